"""What the document workers' fork server loads once (monitor/offload.py), before any worker is
forked from it: the readers, and the shipped topics compiled (or read from the cache:
monitor/topics/cache.py) and used once. Each worker then starts with all of it in memory, shared
with its siblings, instead of loading the topics and building their screen itself.

Imported by the fork server only: importing it anywhere else costs that loading there too.
"""

from __future__ import annotations

import monitor.sources  # noqa: F401  (loaded for the workers; main-text extraction: see monitor.offload)
from monitor.judge import judge_batch

# One report and one text of everyday news, so that both paths (the screen turning a text away,
# the full evaluator, the story signature of a match) have compiled what they compile on first use.
_SAMPLES = [
    ("Deported children returned", "",
     "Eleven Ukrainian children deported by Russia from the occupied Kherson region were brought back "
     "home this week, the Bring Kids Back UA initiative said. They had been taken to a camp in Crimea."),
    ("Повернули депортованих дітей", "",
     "Із тимчасово окупованих територій вдалося повернути ще шістьох дітей, яких росія незаконно вивезла."),
    ("Weather", "", "Rain is expected on Tuesday across the west of the country, with sun returning by Friday."),
]

try:
    judge_batch((), _SAMPLES)  # (): the configuration without `topics:`; others still share the shipped ones
except Exception:  # noqa: BLE001  a fault here must not take the fork server down: workers compile for themselves
    pass
