"""WSGI entry point.

After the application is loaded, everything allocated so far (modules, URL
patterns, settings) is moved out of the garbage collector's reach
(``gc.freeze``): a full collection then walks only what requests allocate,
instead of pausing a request for the whole start-up heap, and forked workers
keep sharing those pages.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()
gc.collect()
gc.freeze()
