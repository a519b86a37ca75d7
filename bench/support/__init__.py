"""What the benches share, so that each bench reads as: set up, run the CLI, print ratios.

  server.py   asyncio HTTP/1.1 server; ServerThread (in this process), SiteProcess (a subprocess)
  site.py     the apps: Site (feeds and pages with ETag/304, counters), LiveFeeds (feeds that grow,
              for the crash bench), Receiver (webhook), news_site (many synthetic feeds)
  corpus.py   synthetic news in en/uk/ru, on and off topic; feed documents; ~50 KB article pages
  stories.py  the dedup bench's labelled set of stories and copies, and its filler articles
  cli.py      sources.yaml writer; the CLI as a measured subprocess (wall time, peak RSS)
  floor.py    the floor: the same fetches (and extraction) with httpx alone, in its own process

Nothing here imports monitor: the benches measure it from the outside, as a user runs it.
"""
