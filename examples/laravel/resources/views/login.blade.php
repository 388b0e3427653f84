@extends('layout')
@section('title', 'Log in')
@section('content')
<h1>Log in</h1>
@if ($errors->any())
  <p class="status error" role="alert">{{ $errors->first() }}</p>
@endif
<form method="post" action="/login">
  @csrf
  <label for="email">Email</label>
  <input id="email" type="email" name="email" value="{{ old('email', 'alice@example.com') }}" required autofocus>
  <label for="password">Password</label>
  <input id="password" type="password" name="password" value="secret" required>
  <button type="submit">Log in</button>
</form>
<p class="meta">Users of every tenant: alice@example.com and bob@example.com (editors),
carol@example.com (guest: no access to flow 2 and project 2). Password: <code>secret</code>.</p>
@endsection
