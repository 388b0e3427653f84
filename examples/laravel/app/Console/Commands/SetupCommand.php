<?php

namespace App\Console\Commands;

use App\Models\Flow;
use App\Models\Project;
use App\Models\Task;
use App\Models\User;
use App\Tenancy;
use Illuminate\Console\Command;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Hash;
use Illuminate\Support\Facades\Schema;

/**
 * app:setup creates each tenant's SQLite database ({DB_DATABASE}/{tenant}.sqlite),
 * its tables and the sample data (README.md, "Users"). Idempotent: existing
 * tables are kept and a tenant that already has users is not seeded again.
 * --fresh starts over.
 */
class SetupCommand extends Command
{
    protected $signature = 'app:setup {tenants?* : tenant keys (default: the current tenant)} {--fresh : delete the tenant databases first}';

    protected $description = 'Create and seed the SQLite database of each tenant';

    public function handle(): int
    {
        $tenants = $this->argument('tenants') ?: [Tenancy::current() ?: 'default'];
        $dir = Tenancy::databaseDir();
        if (! is_dir($dir) && ! @mkdir($dir, 0775, true) && ! is_dir($dir)) {
            $this->error("cannot create {$dir}");

            return 1;
        }
        foreach ($tenants as $tenant) {
            if (! preg_match(Tenancy::PATTERN, $tenant)) {
                $this->error("invalid tenant key \"{$tenant}\"");

                return 1;
            }
            $this->setUp($tenant);
        }

        // Blade's compiled views are written now, before php-fpm serves, as
        // Laravel's deployment guide does (`php artisan view:cache`): the
        // compiler writes a view with a plain file_put_contents
        // (Illuminate/View/Compilers/BladeCompiler.php, compile), so workers
        // compiling the same view at once can include a half-written one.
        return $this->call('view:cache');
    }

    private function setUp(string $tenant): void
    {
        Tenancy::set($tenant);
        $path = Tenancy::databasePath($tenant);
        if ($this->option('fresh')) {
            foreach ([$path, $path.'-wal', $path.'-shm'] as $file) {
                @unlink($file);
            }
        }
        if (! is_file($path)) {
            touch($path);
        }
        config(['database.connections.tenant.database' => $path]);
        DB::purge('tenant');

        // WAL lets the php-fpm workers read while one of them writes.
        DB::statement('PRAGMA journal_mode = WAL');
        $this->createTables();

        if (User::count() === 0) {
            DB::transaction(function () use ($tenant) {
                $this->seed($tenant);
            });
            $this->info("tenant {$tenant}: created and seeded {$path}");
        } else {
            $this->info("tenant {$tenant}: {$path} already seeded");
        }
    }

    private function createTables(): void
    {
        $schema = Schema::connection('tenant');
        if (! $schema->hasTable('users')) {
            $schema->create('users', function (Blueprint $t) {
                $t->id();
                $t->string('name');
                $t->string('email')->unique();
                $t->string('password');
                $t->string('role')->default('editor');
                $t->rememberToken();
                $t->timestamps(6);
            });
        }
        if (! $schema->hasTable('flows')) {
            $schema->create('flows', function (Blueprint $t) {
                $t->id();
                $t->string('name');
                $t->text('description')->nullable();
                $t->boolean('restricted')->default(false);
                $t->foreignId('updated_by')->nullable()->constrained('users');
                $t->timestamps(6);
            });
        }
        if (! $schema->hasTable('projects')) {
            $schema->create('projects', function (Blueprint $t) {
                $t->id();
                $t->string('name');
                $t->boolean('restricted')->default(false);
                $t->foreignId('updated_by')->nullable()->constrained('users');
                $t->timestamps(6);
            });
        }
        if (! $schema->hasTable('tasks')) {
            $schema->create('tasks', function (Blueprint $t) {
                $t->id();
                $t->foreignId('project_id')->constrained('projects');
                $t->string('title');
                $t->string('status')->default('todo');
                $t->foreignId('updated_by')->nullable()->constrained('users');
                $t->timestamps(6);
            });
        }
        if (! $schema->hasTable('personal_access_tokens')) {
            // Sanctum's tokens, as its migration makes them (laravel/sanctum 4.x
            // database/migrations/..._create_personal_access_tokens_table.php).
            $schema->create('personal_access_tokens', function (Blueprint $t) {
                $t->id();
                $t->morphs('tokenable');
                $t->string('name');
                $t->string('token', 64)->unique();
                $t->text('abilities')->nullable();
                $t->timestamp('last_used_at')->nullable();
                $t->timestamp('expires_at')->nullable();
                $t->timestamps();
            });
        }
        if (! $schema->hasTable('sessions')) { // for SESSION_DRIVER=database
            $schema->create('sessions', function (Blueprint $t) {
                $t->string('id')->primary();
                $t->foreignId('user_id')->nullable()->index();
                $t->string('ip_address', 45)->nullable();
                $t->text('user_agent')->nullable();
                $t->text('payload');
                $t->integer('last_activity')->index();
            });
        }
    }

    private function seed(string $tenant): void
    {
        $password = Hash::make('secret');
        $users = [];
        foreach ([
            ['Alice', 'alice@example.com', 'editor'],
            ['Bob', 'bob@example.com', 'editor'],
            ['Carol', 'carol@example.com', 'guest'],
        ] as [$name, $email, $role]) {
            $users[$name] = User::create(['name' => $name, 'email' => $email, 'password' => $password, 'role' => $role]);
        }
        $alice = $users['Alice']->id;

        // Seeding never broadcasts, whatever BROADCAST_FROM_OBSERVER says.
        Flow::withoutEvents(function () use ($tenant, $alice) {
            foreach ([
                ['Customer onboarding', "Tenant {$tenant}: welcome mail, account setup, first call.", false],
                ['Quarterly close', "Tenant {$tenant}: finance only (restricted: Carol may not see it).", true],
                ['Support escalation', "Tenant {$tenant}: from first-line ticket to engineering.", false],
            ] as [$name, $description, $restricted]) {
                $flow = new Flow(['name' => "{$name} ({$tenant})", 'description' => $description]);
                $flow->restricted = $restricted;
                $flow->updated_by = $alice;
                $flow->save();
            }
        });

        Task::withoutEvents(function () use ($tenant, $alice) {
            foreach ([
                ['Website relaunch', false, ['Wireframes', 'Copy review', 'Build landing page', 'Launch checklist']],
                ['Acquisition due diligence', true, ['Collect contracts', 'Legal review']],
            ] as [$name, $restricted, $titles]) {
                $project = new Project(['name' => "{$name} ({$tenant})"]);
                $project->restricted = $restricted;
                $project->updated_by = $alice;
                $project->save();
                foreach ($titles as $i => $title) {
                    $task = new Task(['title' => $title, 'status' => Task::STATUSES[$i % 3]]);
                    $task->project_id = $project->id;
                    $task->updated_by = $alice;
                    $task->save();
                }
            }
        });
    }
}
