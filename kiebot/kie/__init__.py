"""A typed Kie.ai API client (https://docs.kie.ai). Imports nothing from the rest of kiebot.

Modules: :mod:`~kiebot.kie.types` (wire Structs, TaskStatus), :mod:`~kiebot.kie.status`
(per-family normalisation), :mod:`~kiebot.kie.errors`, :mod:`~kiebot.kie.callbacks` (callback
parsing and HMAC), :mod:`~kiebot.kie.throttle` (20 creates / 10 s), :mod:`~kiebot.kie.guard`
(no Telegram file URLs to Kie), :mod:`~kiebot.kie.result_guard` and
:mod:`~kiebot.kie.result_fetch` (result downloads only from public https hosts) and
:mod:`~kiebot.kie.client` (the I/O); the free catalogue API (models, price texts, schemas,
success rates) is :mod:`~kiebot.kie.catalogue` with its tolerant readers in
:mod:`~kiebot.kie.catalogue_wire` and the shared 1 request/s :mod:`~kiebot.kie.pacing`.
"""

from kiebot.kie.callbacks import MalformedCallback as MalformedCallback
from kiebot.kie.callbacks import parse_callback as parse_callback
from kiebot.kie.callbacks import verify_signature as verify_signature
from kiebot.kie.catalogue import CatalogueClient as CatalogueClient
from kiebot.kie.client import KieClient as KieClient
from kiebot.kie.client import RetryPolicy as RetryPolicy
from kiebot.kie.errors import FeatureDisabled as FeatureDisabled
from kiebot.kie.errors import GenerationFailed as GenerationFailed
from kiebot.kie.errors import InputRejected as InputRejected
from kiebot.kie.errors import InsufficientCredits as InsufficientCredits
from kiebot.kie.errors import KieError as KieError
from kiebot.kie.errors import Maintenance as Maintenance
from kiebot.kie.errors import NetworkError as NetworkError
from kiebot.kie.errors import NotFound as NotFound
from kiebot.kie.errors import RateLimited as RateLimited
from kiebot.kie.errors import ResultRefused as ResultRefused
from kiebot.kie.errors import ResultTooLarge as ResultTooLarge
from kiebot.kie.errors import ServerError as ServerError
from kiebot.kie.errors import SubmitOutcomeUnknown as SubmitOutcomeUnknown
from kiebot.kie.errors import Timeout as Timeout
from kiebot.kie.errors import Unauthorized as Unauthorized
from kiebot.kie.errors import UnexpectedResponse as UnexpectedResponse
from kiebot.kie.pacing import Pacer as Pacer
from kiebot.kie.throttle import SlidingWindowThrottle as SlidingWindowThrottle
from kiebot.kie.types import FAMILIES as FAMILIES
from kiebot.kie.types import Family as Family
from kiebot.kie.types import TaskState as TaskState
from kiebot.kie.types import TaskStatus as TaskStatus
