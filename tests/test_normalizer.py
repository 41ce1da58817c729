"""spacy_ctx.normalizer: each correction against its definition, errors, and the bytes round trip."""
import numpy
import pytest
import srsly
from numpy.testing import assert_allclose

from spacy_ctx.normalizer import Normalizer


@pytest.fixture(scope="module")
def cloud():
    """Anisotropic data: a big common offset and one dominant direction."""
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(500, 8)) * [10, 1, 1, 1, 1, 1, 1, 0.5] + 5.0
    return X.astype("f")


def test_center_removes_the_mean(cloud):
    norm = Normalizer("center").fit({"mix": cloud})
    assert_allclose(norm.transform(cloud, "mix").mean(axis=0), 0, atol=1e-4)
    assert norm.transform(cloud, "mix").dtype == numpy.float32


def test_abtt_removes_the_top_direction(cloud):
    norm = Normalizer("abtt", n_components=1).fit({"mix": cloud})
    top = norm.params["mix"]["components"][0]
    assert abs(top[0]) == pytest.approx(1.0, abs=0.01)  # the variance-10 axis
    Y = norm.transform(cloud, "mix")
    assert_allclose(Y @ top, 0, atol=1e-3)
    centered = cloud - cloud.mean(axis=0)
    assert_allclose(Y, centered - numpy.outer(centered @ top, top), atol=1e-4)


def test_whiten_gives_unit_covariance(cloud):
    norm = Normalizer("whiten", eps=1e-5).fit({"mix": cloud, "layer0": cloud[:, ::-1]})
    Y = norm.transform(cloud, "mix")
    # eps (1e-5 of the top eigenvalue, 100) shrinks the 0.25-variance axis a little.
    assert_allclose(numpy.cov(Y, rowvar=False), numpy.eye(8), atol=5e-3)
    # The default shrinkage (eps 0.1 of the top eigenvalue) keeps the order
    # of the variances but flattens them: eigenvalue l maps to l / (l + 10).
    shrunk = Normalizer("whiten").fit({"mix": cloud}).transform(cloud, "mix")
    variances = numpy.linalg.eigvalsh(numpy.cov(shrunk, rowvar=False))
    expected = numpy.linalg.eigvalsh(numpy.cov(cloud, rowvar=False))
    assert_allclose(variances, expected / (expected + 0.1 * expected.max()), rtol=0.05)
    assert norm.transform(cloud[0], "mix").shape == (8,)
    assert sorted(norm.keys) == ["layer0", "mix"]


def test_skip_below_leaves_isotropic_keys_alone(cloud):
    rng = numpy.random.default_rng(1)
    isotropic = rng.normal(size=(500, 8)).astype("f")  # random-pair cosine ~ 0
    norm = Normalizer("whiten", skip_below=0.05).fit({"mix": cloud, "layer6": isotropic})
    assert norm.kept_raw == ["layer6"]
    assert_allclose(norm.transform(isotropic, "layer6"), isotropic)
    assert numpy.abs(norm.transform(cloud, "mix").mean(axis=0)).max() < 1e-3  # corrected
    loaded = Normalizer.from_bytes(norm.to_bytes())
    assert (loaded.skip_below, loaded.kept_raw) == (0.05, ["layer6"])
    assert_allclose(loaded.transform(isotropic, "layer6"), isotropic)
    # Refitting a key on anisotropic data corrects it again.
    assert norm.fit({"layer6": cloud}).kept_raw == []


def test_normalizer_errors(cloud):
    with pytest.raises(ValueError, match="A001"):
        Normalizer("pca")
    norm = Normalizer("center").fit({"mix": cloud})
    with pytest.raises(KeyError, match="A002"):
        norm.transform(cloud, "layer3")
    with pytest.raises(ValueError, match="A004"):
        norm.transform(cloud[:, :4], "mix")
    with pytest.raises(ValueError, match="A003"):
        Normalizer("whiten").fit({"mix": cloud[:5]})
    with pytest.raises(ValueError, match="A005"):
        Normalizer("abtt", n_components=8).fit({"mix": cloud})


@pytest.mark.parametrize("method", ["center", "whiten", "abtt"])
def test_normalizer_bytes_round_trip(cloud, method):
    norm = Normalizer(method, n_components=2).fit({"mix": cloud, "layer1": cloud * 2})
    loaded = Normalizer.from_bytes(norm.to_bytes())
    assert (loaded.method, loaded.n_components, loaded.keys) == (method, 2, norm.keys)
    for key in norm.keys:
        assert_allclose(loaded.transform(cloud, key), norm.transform(cloud, key))
    with pytest.raises(ValueError, match="A012"):
        Normalizer.from_bytes(srsly.msgpack_dumps({"method": "center"}))
