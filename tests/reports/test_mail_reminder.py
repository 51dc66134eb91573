"""When a report mail is due (``reconciler.reporting.news``), with a frozen clock (freezegun).

The processes test of the same behaviour is ``test_mail_news.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from freezegun import freeze_time

from reconciler.reporting.news import NEW, NOTHING_NEW, REMINDER, news_for, remember_sent
from state import Store


def test_reminder_interval_and_forgetting(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    items = {"conflict:a": "Konflikt customer K-1, Feld email"}
    day = dt.timedelta(hours=24)

    def verdict(now: str, what: dict[str, str], remind: dt.timedelta | None = day) -> Any:
        with freeze_time(now):
            news = news_for(store, "report", what, remind=remind)
            if news.send:
                remember_sent(store, news)
            return news

    try:
        assert verdict("2026-12-01 09:00+00:00", items).reason == NEW
        assert verdict("2026-12-02 08:59+00:00", items).reason == NOTHING_NEW
        reminder = verdict("2026-12-02 09:00+00:00", items)
        assert reminder.reason == REMINDER and reminder.still_open == tuple(items.values())
        assert verdict("2026-12-03 08:00+00:00", items).reason == NOTHING_NEW
        # 0 hours: no reminders at all.
        assert verdict("2026-12-09 08:00+00:00", items, remind=None).reason == NOTHING_NEW
        # Closed, back within a week: not new; closed for more than a week, then back: new.
        assert not verdict("2026-12-10 08:00+00:00", {}).send
        assert verdict("2026-12-15 08:00+00:00", items, remind=None).reason == NOTHING_NEW
        assert not verdict("2026-12-15 09:00+00:00", {}).send
        assert verdict("2026-12-23 09:00+00:00", items, remind=None).reason == NEW
    finally:
        store.close()
