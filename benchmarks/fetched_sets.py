"""The public labelled sets of bench_datasets' suite, converted from their original files:

    python -m benchmarks.fetched_sets --mirror /work/.mirror --out DIR

Each set's files are read from a snapshot of a public GitHub repository (``SOURCES``: the repository,
the paths in it, what the set is), found under ``--mirror`` as ``OWNER+NAME/repo``, a git directory
(bare, or a work tree's ``.git``) whose ``HEAD`` is read. Each is written as ``DIR/NAME.npz`` with
``X`` (float32, N x D, the features as the original gives them: pixels / 255 or the stated rescale,
nothing else) and ``y`` (int64, 0..K-1: the class names or numbers in sorted order). A set whose
repository is not in the mirror is skipped, and said so. Each set written is summarised: its shape,
K, class counts and the range of X.
"""
from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np
import scipy.io
from sklearn.feature_extraction.text import TfidfVectorizer

from vade_tf import files


class Source(NamedTuple):
    """Where a set's original files are, and what the set is."""
    repo: str
    paths: tuple[str, ...]
    what: str


SOURCES: dict[str, Source] = {
    "coil20": Source(
        "hyzhang98/AdaGAE", ("data/COIL20.mat",),
        "COIL-20: 1,440 grey images of 20 objects (72 each), 32 x 32, pixels / 255 in [0, 1]"),
    "orl": Source(
        "sjgershm/DBM", ("olivettifaces.mat",),
        "ORL (Olivetti) faces, Roweis' 64 x 64 crops: 400 images of 40 people (10 each), "
        "pixels / 255 in [0, 0.95]"),
    "ecoli": Source(
        "IIT-LAND/reval_clustering", ("working_examples/datasets/ecoli.data",),
        "UCI ecoli: 336 x 7 (sequence name dropped), 8 classes of 143 down to 2"),
    "glass": Source(
        "IIT-LAND/reval_clustering", ("working_examples/datasets/glass.data",),
        "UCI glass identification: 214 x 9 (Id dropped; refractive index and 8 unscaled oxides), "
        "6 classes of 76 down to 9"),
    "sonar": Source(
        "rfigueror1/tareas_teoria_cerebro", ("sonar.all-data.csv",),
        "UCI sonar (sonar.all-data): 208 x 60 energies in [0, 1], 2 classes (M 111, R 97)"),
    "ionosphere": Source(
        "IIT-LAND/reval_clustering", ("working_examples/datasets/ionosphere.data",),
        "UCI ionosphere: 351 x 34 in [-1, 1] (the second column constant 0), 2 classes (b 126, g 225)"),
    "yeast": Source(
        "IIT-LAND/reval_clustering", ("working_examples/datasets/yeast.data",),
        "UCI yeast: 1,484 x 8 (sequence name dropped), 10 classes of 463 down to 5"),
    "libras": Source(
        "IIT-LAND/reval_clustering", ("working_examples/datasets/movement_libras.data",),
        "UCI Libras movement: 360 x 90 hand trajectories in [0, 1], 15 classes of 24"),
    "vehicle": Source(
        "YichenZhuDuke/Classification-Tree-with-Surface-to-Volume-ratio-Regularization",
        tuple(f"xa{part}.dat" for part in "abcdefghi"),
        "UCI Statlog vehicle silhouettes (xaa-xai.dat): 846 x 18 (unscaled), "
        "4 classes (bus 218, opel 212, saab 217, van 199)"),
    "bbc": Source(
        "dejanbatanjac/bbc-article-classify-bert", ("bbc",),
        "BBC news (Greene & Cunningham): 2,225 articles as TF-IDF over 2,000 terms (english stop "
        "words, sublinear tf, rows of unit norm), 5 topics of 511 down to 386"),
    "usps": Source(
        "chenbocqu/SEMMDL", ("data/USPS.mat",),
        "USPS handwritten digits, 7,291 train then 2,007 test: 9,298 x 256, 16 x 16 row-major, "
        "pixels in [0, 1], 10 classes (y = the digit)"),
    "isolet": Source(
        "hyzhang98/AdaGAE", ("data/Isolet.mat",),
        "UCI ISOLET, the 1,560 utterances of Cai's Isolet.mat (isolet1: 30 speakers saying each "
        "letter twice): 1,560 x 617 features in [-1, 1], 26 letters of 60"),
    "segment": Source(
        "bsaha205/clam", ("data/segment.dat",),
        "UCI Statlog image segmentation (segment.dat): 2,310 x 19 (unscaled; the third column "
        "constant 9), 7 classes of 330"),
}


class Snapshot:
    """The ``HEAD`` commit of a fetched repository's git directory.

    Parameters
    ----------
    git_dir : Path
        The git directory (bare, or a work tree's ``.git``).
    """

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir

    def _git(self, *args: str, stdin: bytes = b"") -> bytes:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], input=stdin,
                              capture_output=True, check=True).stdout

    def files(self, folder: str) -> list[str]:
        """The paths of every file under ``folder``, sorted."""
        return sorted(self._git("ls-tree", "-r", "--name-only", "HEAD", "--", folder).decode().splitlines())

    def read(self, paths: Sequence[str]) -> list[bytes]:
        """The contents of ``paths``, in one ``git cat-file --batch``.

        Raises
        ------
        FileNotFoundError
            A path that ``HEAD`` does not hold.
        """
        out = self._git("cat-file", "--batch", stdin="".join(f"HEAD:{p}\n" for p in paths).encode())
        blobs, at = [], 0
        for path in paths:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            if header[-1] == b"missing":
                raise FileNotFoundError(f"{path} is not in {self.git_dir}'s HEAD")
            size = int(header[2])
            blobs.append(out[end + 1:end + 1 + size])
            at = end + 1 + size + 1  # the content is followed by a newline
        return blobs


def find_snapshot(mirror: Path, repo: str) -> Optional[Snapshot]:
    """``repo``'s snapshot under ``mirror`` (``OWNER+NAME/repo``), or None if it was not fetched."""
    folder = mirror / repo.replace("/", "+") / "repo"
    for git_dir in (folder / ".git", folder):
        if (git_dir / "HEAD").is_file():
            return Snapshot(git_dir)
    return None


def _rows(blob: bytes, sep: Optional[str] = ",") -> list[list[str]]:
    """A text table's non-blank lines, split on ``sep`` (None: on runs of whitespace)."""
    return [[field.strip() for field in line.split(sep)]
            for line in blob.decode("ascii").splitlines() if line.strip()]


def _columns(rows: list[list[str]], first: int) -> tuple[np.ndarray, np.ndarray]:
    """Features: columns ``first`` up to the last; label: the last column, as text."""
    return np.array([r[first:-1] for r in rows], dtype=np.float64), np.array([r[-1] for r in rows])


def _mat(blob: bytes) -> dict:
    """A MATLAB (v5) file's variables."""
    return scipy.io.loadmat(io.BytesIO(blob))


def _mat_xy(scale: float = 1.0) -> Callable:
    """The conversion of a .mat file holding ``X`` (N x D) and ``Y`` (N x 1): ``X * scale``, ``Y``."""
    def load(snapshot: Snapshot, paths: tuple[str, ...]):
        mat = _mat(*snapshot.read(paths))
        return mat["X"] * scale, mat["Y"].ravel()
    return load


def _orl(snapshot: Snapshot, paths: tuple[str, ...]):
    faces = _mat(*snapshot.read(paths))["faces"]  # 4096 x 400 uint8, each column a face
    images = faces.T.reshape(400, 64, 64).transpose(0, 2, 1)  # MATLAB's column-major to row-major
    return images.reshape(400, -1) / 255.0, np.arange(400) // 10  # 10 consecutive faces a person


def _uci(first: int = 0, sep: Optional[str] = ",", numbered: bool = False) -> Callable:
    """The conversion of a UCI table (its files' rows in turn): features from column ``first`` up to
    the last, class from the last (``numbered``: a number, so that 10 sorts after 9); fields split on
    ``sep`` (None: on runs of whitespace)."""
    def load(snapshot: Snapshot, paths: tuple[str, ...]):
        x, label = _columns([row for blob in snapshot.read(paths) for row in _rows(blob, sep)], first)
        return x, (label.astype(np.int64) if numbered else label)
    return load


def _text(blob: bytes) -> str:
    """UTF-8, or Latin-1 where a file is not (the corpus mixes them)."""
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        return blob.decode("latin-1")


def _bbc(snapshot: Snapshot, paths: tuple[str, ...]):
    (folder,) = paths
    articles = [PurePosixPath(p) for p in snapshot.files(folder)]
    articles = [p for p in articles if p.suffix == ".txt" and p.parent.parent == PurePosixPath(folder)]
    texts = [_text(blob) for blob in snapshot.read([str(p) for p in articles])]  # FOLDER/TOPIC/NNN.txt
    x = TfidfVectorizer(max_features=2000, stop_words="english", sublinear_tf=True).fit_transform(texts)
    return x.toarray(), np.array([p.parent.name for p in articles])


def _usps(snapshot: Snapshot, paths: tuple[str, ...]):
    mat = _mat(*snapshot.read(paths))  # 256 x N columns, each a column-major 16 x 16 image
    pixels = np.concatenate([mat["Train_DAT"].T, mat["Test_DAT"].T])
    images = pixels.reshape(-1, 16, 16).transpose(0, 2, 1).reshape(-1, 256)
    labels = np.concatenate([mat["trainlabels"].ravel(), mat["testlabels"].ravel()])
    return images, labels.astype(np.int64) % 10  # labels 1..10, 10 being the digit 0


# name -> its conversion: (snapshot, SOURCES' paths) -> (features N x D, a label per row).
CONVERT: dict[str, Callable[[Snapshot, tuple[str, ...]], tuple[np.ndarray, np.ndarray]]] = {
    "coil20": _mat_xy(1 / 255),  # X: 1440 x 1024 uint8, each row a row-major 32 x 32 image
    "orl": _orl,
    "ecoli": _uci(first=1),  # the sequence name is no feature
    "glass": _uci(first=1, numbered=True),  # nor is the Id
    "sonar": _uci(),
    "ionosphere": _uci(),
    "yeast": _uci(first=1),  # the sequence name is no feature
    "libras": _uci(numbered=True),
    "vehicle": _uci(sep=None),
    "bbc": _bbc,
    "usps": _usps,
    "isolet": _mat_xy(),
    "segment": _uci(sep=None, numbered=True),
}


def convert(name: str, snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Set ``name`` from its original files in ``snapshot``.

    Returns
    -------
    X : ndarray of float32, N x D
    y : ndarray of int64, N
        Class labels 0..K-1, in the sorted order of the original class names or numbers.
    """
    x, labels = CONVERT[name](snapshot, SOURCES[name].paths)
    _, y = np.unique(labels, return_inverse=True)
    return x.astype(np.float32), y.astype(np.int64)


def summary(name: str, x: np.ndarray, y: np.ndarray) -> str:
    """One line: shape, number of classes, class counts and the range of X."""
    counts = np.bincount(y)
    return (f"{name}: {x.shape[0]} x {x.shape[1]}, K={len(counts)}, counts {counts.tolist()}, "
            f"X in [{x.min():.4g}, {x.max():.4g}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", required=True, type=Path,
                        help="the folder of fetched snapshots, OWNER+NAME/repo each")
    parser.add_argument("--out", required=True, type=Path, help="where NAME.npz are written")
    args = parser.parse_args()
    for name, source in SOURCES.items():
        snapshot = find_snapshot(args.mirror, source.repo)
        if snapshot is None:
            print(f"{name}: skipped, {source.repo} is not in {args.mirror}")
            continue
        x, y = convert(name, snapshot)
        files.save_npz(args.out / f"{name}.npz", X=x, y=y)
        print(summary(name, x, y))


if __name__ == "__main__":
    main()
