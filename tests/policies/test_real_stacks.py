"""The pack's rules pass on the real stacks: every stack in infra/stacks, fully deployed and in the
image-less first phase, with the stack's own policy config."""

from __future__ import annotations

import importlib.util

import pytest

from policies import check
from policies.engine import evaluate
from policies.resources import normalise

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("infra") is None or importlib.util.find_spec("infra.offline") is None,
    reason="infra.offline is not in this checkout",
)


def _stacks():
    from infra import offline

    return offline.list_stacks()


@pytest.mark.parametrize("with_image", [True, False], ids=["full", "image-less"])
def test_real_stacks_have_no_mandatory_violation(with_image):
    from infra import offline

    stacks = _stacks()
    assert stacks
    for stack in stacks:
        env = check.stack_environment(stack)
        config = check._config(env, None)
        outcome = evaluate(
            normalise(offline.capture_stack(stack, with_image=with_image), stack=stack), config
        )
        mandatory = [
            f"{f.rule} {f.resource}: {f.message}"
            for f in outcome.findings
            if f.level == "mandatory"
        ]
        assert mandatory == [], f"{stack}: {mandatory}"
        assert len(outcome.evaluated) >= (25 if with_image else 15)
