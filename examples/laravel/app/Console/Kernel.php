<?php

namespace App\Console;

use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    protected $commands = [
        Commands\SetupCommand::class,
        Commands\TouchFlowCommand::class,
        Commands\TouchTaskCommand::class,
    ];
}
