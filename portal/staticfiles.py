"""Static files storage: WhiteNoise's compressed, hashed copies.

``collectstatic`` (run by ``make serve`` and the container image) writes each
file under a content-hashed name with gzip and brotli variants, which
WhiteNoise serves with far-future cache headers. A checkout that never ran it
(the test suite, ``make run``) has no manifest: names then resolve to the
plain files, which WhiteNoise serves from the apps (``WHITENOISE_USE_FINDERS``),
instead of failing.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class CairnStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        if not self.hashed_files:  # no collectstatic here: the plain name
            return name
        return super().stored_name(name)
