"""One module per console page family; ``replyd.console.router`` includes them all."""
