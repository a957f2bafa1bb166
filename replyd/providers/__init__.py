"""Model providers: one ``complete`` method each, behind the ``Provider`` protocol."""
