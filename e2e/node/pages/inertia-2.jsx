// The Flows/Edit page (inertia-flow.jsx) on Inertia 2: @inertiajs/react 2.x
// (the npm alias inertia-react-2), which reads a first load's page from
// <div id="app" data-page="…"> (inertia-laravel 2's @inertia) and sends its
// requests with axios.
import { createInertiaApp, Link, router, useForm } from 'inertia-react-2';
import { startInertia } from './inertia-flow.jsx';

startInertia({ createInertiaApp, useForm, Link, router, major: 2 });
