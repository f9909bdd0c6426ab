"""Which of our published posts a comment is about: URL normalisation and the look-up.

The same post has many URLs: http or https, `www.` or not, `twitter.com` or `x.com`, a trailing
slash, `?utm_source=…` or `?s=20` added by a share button. `normalize_url` maps them to one form;
a comment is linked to a proposal when one of its URLs normalises to a published post's URL.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

from bot.workflows.proposals.models import Publication

# Parameters that say how a link was shared, never which page it is.
_TRACKING = {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "igsh", "mc_cid", "mc_eid", "_ga",
             "ref_src", "ref_url", "si", "feature", "share_id", "mibextid"}
_X_HOSTS = {"x.com", "twitter.com"}
_X_SHARE = {"s", "t"}  # x.com/…/status/1?s=20&t=abc
_X_STATUS = re.compile(r"^/(?:[^/]+|i/web|i)/status(?:es)?/(\d+)")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'「」『』（）()、。，！？]+", re.IGNORECASE)
MAX_URLS = 10


def normalize_url(url: str) -> str | None:
    """One canonical form for a post URL, or None when it is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    for prefix in ("www.", "mobile.", "m."):
        host = host.removeprefix(prefix)
    if host in _X_HOSTS:
        host = "x.com"
    if port not in (None, 80, 443):
        host = f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in _TRACKING and not k.lower().startswith("utm_")]
    if host == "x.com":
        query = [(k, v) for k, v in query if k not in _X_SHARE]
        if match := _X_STATUS.match(path):
            path = f"/i/status/{match.group(1)}"
    elif host == "youtu.be" and path:
        host, query = "youtube.com", [("v", path.strip("/")), *query]
        path = "/watch"
    return f"https://{host}{path}" + (f"?{urlencode(sorted(query))}" if query else "")


def urls_in(text: str) -> list[str]:
    found = [m.group(0).rstrip(".,:;!?") for m in _URL_IN_TEXT.finditer(text)]
    return list(dict.fromkeys(found))[:MAX_URLS]


def _search_token(normalized: str) -> str:
    """A piece of the URL that every spelling of it contains, to narrow the SQL search."""
    parts = urlsplit(normalized)
    if parts.path == "/watch" and (video := dict(parse_qsl(parts.query)).get("v")):
        return video  # youtu.be/ID and youtube.com/watch?v=ID
    segment = parts.path.rsplit("/", 1)[-1]
    return segment or parts.netloc.split(":")[0]


def _like_escape(token: str) -> str:
    return token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@functools.lru_cache(maxsize=128)
def _published_like(tokens: int) -> Select:
    """Published posts whose URL contains any of `tokens` patterns (:t0, :t1, …), newest first."""
    return (select(Publication.proposal_id, Publication.url)
            .where(Publication.status == "published", Publication.url.is_not(None),
                   or_(*(Publication.url.ilike(bindparam(f"t{n}"), escape="\\") for n in range(tokens))))
            .order_by(Publication.id.desc()))


def find_published_posts(session: Session, url_lists: list[list[str]]) -> list[tuple[int, str] | None]:
    """For each list of URLs (one comment's), the (proposal id, published URL) of the first published
    post one of them points to, if any: one query for all of them."""
    wanted = [[n for n in map(normalize_url, urls) if n is not None] for urls in url_lists]
    tokens = sorted({_search_token(n) for urls in wanted for n in urls})
    if not tokens:
        return [None] * len(url_lists)
    # A URL that normalises to a wanted one contains that one's token.
    candidates = session.execute(_published_like(len(tokens)),
                                 {f"t{n}": f"%{_like_escape(t)}%" for n, t in enumerate(tokens)}).all()
    published = [(proposal_id, url, normalize_url(url)) for proposal_id, url in candidates]
    return [next(((p, url) for n in urls for p, url, normal in published if normal == n), None) for urls in wanted]

