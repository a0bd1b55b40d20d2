"""The question history the user may turn on (off by default: no trace of questions on disk)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from gdpr_assistant.types import Answer

log = logging.getLogger(__name__)


def record(answer: Answer, path: Path) -> None:
    """Append the exchange to ``path`` as one JSON line (file mode 600: it holds what the user asked)."""
    entry = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "question": answer.question, "answer": answer.answer,
             "refused": answer.refused, "model": answer.model,
             "citations": [c.as_dict() for c in answer.citations]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError as exc:
        log.warning("Could not append to the history file %s (%s); the answer is not recorded.", path,
                    exc.strerror or exc)
