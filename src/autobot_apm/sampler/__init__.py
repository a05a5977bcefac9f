"""Background gauges of the host, this process, NVIDIA and AMD GPUs and Intel NPUs.

Start it with :func:`start_sampler` (or ``configure(sampler=True)``); see
``docs/sampler.md`` for every metric it emits. :func:`describe_hardware` says what it
would see on this machine, as ``autobot-apm doctor`` prints it.
"""

from ._sampler import Sampler
from ._start import describe_hardware, sampler_from_setting, start_sampler
from ._types import SourceStatus

__all__ = ["Sampler", "SourceStatus", "describe_hardware", "sampler_from_setting", "start_sampler"]
