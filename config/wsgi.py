import os
import sys

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# A request thread back from the database waits for the interpreter lock until the thread
# holding it is made to let go: by default after 5 ms. In a web process whose threads
# serve several teams, one team's CPU-heavy requests then add up to 5 ms to every query
# of another team's request (a fetch or a single-span export makes several). 1 ms bounds
# that wait; the cost is a lock hand-over per millisecond while threads contend.
sys.setswitchinterval(settings.PROMPTYARD_WEB_SWITCH_INTERVAL)
