// The Flows/Edit page (inertia-flow.jsx) on Inertia 3: @inertiajs/react 3.x,
// which reads a first load's page from <script data-page="app"
// type="application/json"> (inertia-laravel 3's @inertia) and sends its
// requests with XMLHttpRequest.
import { createInertiaApp, Link, router, useForm } from '@inertiajs/react';
import { startInertia } from './inertia-flow.jsx';

startInertia({ createInertiaApp, useForm, Link, router, major: 3 });
