"""yima's staff console (工作台): one sign-in, one navigation by role, no database of its own."""
