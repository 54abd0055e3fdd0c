"""NumPy's huge-page marking is off inside deblending calls and restored
after them."""

import threading

import numpy as np
import pytest

from pais_deblend.utils import _pages
from pais_deblend.utils._pages import small_pages

get_marking = getattr(np._core.multiarray, '_get_madvise_hugepage', None)
set_marking = getattr(np._core.multiarray, '_set_madvise_hugepage', None)
pytestmark = pytest.mark.skipif(
    set_marking is None or get_marking is None,
    reason='this NumPy cannot switch the huge-page marking')


@pytest.fixture(params=[True, False])
def marking(request):
    previous = set_marking(request.param)
    yield request.param
    set_marking(previous)


def test_off_inside_and_restored_after(marking):
    with small_pages():
        assert get_marking() is False
        with small_pages():
            assert get_marking() is False
        assert get_marking() is False
    assert get_marking() is marking
    assert _pages._depth == 0


def test_restored_when_the_block_raises(marking):
    with pytest.raises(RuntimeError, match='inside'):
        with small_pages():
            raise RuntimeError('inside')
    assert get_marking() is marking


def test_concurrent_blocks_restore_the_first_setting(marking):
    # thread a enters first and leaves while thread b is still inside:
    # the marking stays off until b leaves, then comes back as found
    a_inside, b_inside, a_left = (threading.Event() for _ in range(3))
    seen = {}

    def first():
        with small_pages():
            a_inside.set()
            b_inside.wait(5)
        a_left.set()

    def second():
        a_inside.wait(5)
        with small_pages():
            b_inside.set()
            a_left.wait(5)
            seen['after a left'] = get_marking()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {'after a left': False}
    assert get_marking() is marking


def test_decorated_functions_keep_their_signature_and_switch(marking):
    import inspect

    @small_pages()
    def inside(x, *, y=2):
        """Doc."""
        return get_marking(), x + y

    assert inside(1) == (False, 3)
    assert str(inspect.signature(inside)) == '(x, *, y=2)'
    assert inside.__doc__ == 'Doc.'
    assert get_marking() is marking


def test_deblender_call_switches_and_restores(marking, monkeypatch):
    from pais_deblend.deblend import pipeline

    seen = []
    original = pipeline.detection_image

    def spy(*args, **kwargs):
        seen.append(get_marking())
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, 'detection_image', spy)
    from pais_deblend import Deblender

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    image = 50 * np.exp(-((yy - 30) ** 2 + (xx - 33) ** 2) / 8.0)
    image += rng.normal(0, 0.1, image.shape)
    Deblender('hst_f160w', progress_bar=False)(image)
    assert seen == [False]
    assert get_marking() is marking
