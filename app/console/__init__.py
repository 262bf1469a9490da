"""The built-in console's page files (``static/``: HTML, one JS, one CSS; no build step),
served by ``app.api.console`` at ``/console``."""
