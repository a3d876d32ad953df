"""One module per view of the console (and its dialogs), each with its .tcss beside it."""
