"""The dataset catalogue: every dataset key, the on-disk formats its folder may hold, its protocol options, and
where its files come from (public files pinned to a repository commit, with their size and SHA-256)."""
from __future__ import annotations

from dataclasses import dataclass, field

#: Where pinned files are fetched from unless a mirror replaces it: ``BASE/OWNER/REPO/COMMIT/PATH``.
GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class RemoteFile:
    """A public file pinned to a commit of a repository.

    Args:
        repo: ``OWNER/REPO``.
        commit: the commit the file is read at (40 hex digits).
        path: the file's path inside the repository.
        size: its size in bytes.
        sha256: its SHA-256, hex.
        target: where it goes, relative to ``<root>/<key>/``.
    """

    repo: str
    commit: str
    path: str
    size: int
    sha256: str
    target: str

    def url(self, base: str = GITHUB_RAW) -> str:
        return f"{base.rstrip('/')}/{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True)
class Originals:
    """Original files that need a login or an agreement: which, where to get them, what they need."""

    files: tuple[str, ...]
    source: str
    needs: str

    def instructions(self, folder) -> str:
        return (f"the originals ({', '.join(self.files)}) need {self.needs}: get them from {self.source} and put "
                f"them in {folder}/")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset key.

    Args:
        key: the name used on the command line (``--dataset KEY``) and as the folder under ``--root``.
        description: one line for ``graphsbr datasets``.
        formats: the readers tried, in order, on ``<root>/<key>/`` (preprocessed files before raw logs).
        options: protocol options for raw click logs (``test_days``, ``recent_fraction``).
        files: the public files ``graphsbr download KEY`` fetches.
        originals: the raw originals that cannot be downloaded for the user, if any.
    """

    key: str
    description: str
    formats: tuple[str, ...]
    options: dict = field(default_factory=dict)
    files: tuple[RemoteFile, ...] = ()
    originals: Originals | None = None

    @property
    def download_size(self) -> int:
        return sum(f.size for f in self.files)


def _pinned(repo: str, commit: str, folder: str, target: str, files) -> tuple[RemoteFile, ...]:
    """``files`` = ``(name, size, sha256)`` rows of ``repo@commit:folder/``, going to ``<key>/<target>``."""
    return tuple(RemoteFile(repo, commit, f"{folder}/{name}", size, sha256, f"{target}{name}")
                 for name, size, sha256 in files)


S3REC = ("RUCAIBox/CIKM2020-S3Rec", "2a81540ae18615d88ef88227b0c066e5b74781e5", "data", "")
CGENET = ("MSJeinlong/CGENet", "361cab1829696845656c0b3727a837ff7e1d6991")
SR_GTM = ("kangshitao/SR-GTM", "264e1fa19d39ab883c7635b30a5fd3c848b3b5e5", "datasets", "raw_sample/")
PICKLES = "srgnn_preprocessed/"

DIGINETICA = (
    _pinned("yangbo1973/CM-HGNN", "90aae141b57c493201d83ae32f0ddd22fb51471a", "datasets/diginetica", PICKLES, [
        ("all_train_seq.txt", 3448187, "04d71a36f20d0aa8c01b06c02f845a6006132d5a81d2e1faaae6f19ed192527d"),
        ("test.txt", 1142309, "f71afb1a55e6fc42e04c3ce3ea37a7d785767a877de427ef0b042292bbee34b3"),
        ("category.txt", 258456, "b070892cd70cbce3e1ca934d52f321bf841f955221cb0c77f6ceb78444db4e7c"),
    ])
    + _pinned("CRIPAC-DIG/SR-GNN", "e21cfa431f74c25ae6e4ae9261deefe11d1cb488", "datasets", "raw_sample/", [
        ("sample_train-item-views.csv", 395354, "98da96e05c87ef12b739e4bfd9bc7b4864106ee77371f1db9eb4413e3f78d37e"),
    ])
)
TMALL = (
    _pinned("moosazadeh/CCGNN", "416df24218f9c97873f8793685e66f49c0f35786", "datasets/tmall", PICKLES, [
        ("all_train_seq.txt", 2287269, "593e0943820530710201cf66daa104ef34b7b45085e86a2d78ba9f4ee5267c74"),
        ("test.txt", 1600907, "2980863ac160965378e4c6ebceef03d401f9408bfff4d3cba7aefe373547adab"),
        ("category.txt", 244230, "8bb2f09d1b3bc81a64cb610eb10dfd030398bc3228266ddd2f6a685d41cba3e0"),
    ])
    + _pinned("moosazadeh/CSI-GNN", "6bc83869cb4aa5503b435b99009930b96be46e19", "datasets/tmall", PICKLES, [
        ("brand.txt", 244230, "1400beb199cd6f779067b372378a1721130c4eeee07f9bb883f0dce68b2ac966"),
    ])
)
RETAILROCKET = (
    _pinned(*CGENET, "datasets/retailrocket", PICKLES, [
        ("all_train_seq.txt", 2547840, "f0fc2bed6f2523a4fce2fe75a14f4788865c0461afead1566ba51273438908a4"),
        ("test.txt", 594575, "cbbf1693a3c548390177a56227fe119b93b51cd90445c9224fe52ce50e32a400"),
    ])
    + _pinned(*SR_GTM, [
        ("sample_retailrocket.csv", 287480, "708b8466f897474c9b00963c69f2152e4efe1255ab43e23cb071d8ce0f6d86c9"),
    ])
)
YOOCHOOSE1_64 = (
    _pinned(*CGENET, "datasets/yoochoose1_64", PICKLES, [
        ("all_train_seq.txt", 1916182, "db2bd347b31a5b0ee9ea9be46f6a8372d4921f8d301cf2d4747509d00b12f1b4"),
        ("test.txt", 1285798, "e0c52ea368ff176600f8da70f0e8cb63b02aa0890dd79750d9f5cf60cc3720a2"),
    ])
    + _pinned(*SR_GTM, [
        ("sample_yoochoose.dat", 79992, "76df96ad6099e04376826e05eebacd81ed937f9a1ee3e0158e4a23a70588d880"),
    ])
)
BEAUTY = _pinned(*S3REC, [
    ("Beauty.txt", 1090094, "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"),
    ("Beauty_item2attributes.json", 305674, "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4"),
])
SPORTS = _pinned(*S3REC, [
    ("Sports_and_Outdoors.txt", 1707483, "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2"),
    ("Sports_and_Outdoors_item2attributes.json", 653780,
     "7fb10733ac4f1811384a52144cdefa7fcc7536fa80a7232c5da9bd789155c34b"),
])
TOYS = _pinned(*S3REC, [
    ("Toys_and_Games.txt", 922166, "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f"),
    ("Toys_and_Games_item2attributes.json", 327536, "d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0"),
])
YELP = _pinned(*S3REC, [
    ("Yelp.txt", 1814224, "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed"),
    ("Yelp_item2attributes.json", 600360, "f25acd5e1e680e0b22fd4e3f4fb6be4b2a7461e9222610616e3e1ee6702dd58d"),
])
LASTFM = _pinned(*S3REC, [
    ("LastFM.txt", 239312, "9ded486adb5b0fe9dc761950afa0a9a05e93ff018992e0c52bf11afec529f802"),
    ("LastFM_item2attributes.json", 524368, "a4ccd678dc9ff6d43fe5073f491db5c9b02eb98dfa4f8c0382913a784be217ef"),
])
SCIENTIFIC = _pinned("ysh-1998/CoWPiRec", "db47560c2364650d22afc77080717287daec5079", "dataset/Scientific", "", [
    ("Scientific.train.inter", 929295, "7284f6489d956fa20c9b64ffc84569264320edba5c3bc2fcb22db2ea083a1163"),
    ("Scientific.valid.inter", 271473, "5f37c84d3b54617cdc46638c89dfe8741c7efc4987acd5eb64de2cbd4311f46c"),
    ("Scientific.test.inter", 309842, "546da7e5f44002b4518d7fd58066684bc09613f76c240914e16976d57cfe7083"),
    ("Scientific.text", 859222, "95887e6bda76e54f59b71b566320520d5da74e21d3b6ff8f20bfb6e8e84aa831"),
    ("Scientific.item2index", 69050, "896ab1017508cf20834d3d0537da9f8f624324223a835af272a98ba16f8c087a"),
    ("Scientific.user2index", 165602, "f0162b1a3a0c6b7e816f86208e7b36f65d6787923126f9558fbc6d368e4c4974"),
])

YOOCHOOSE_CLICKS = Originals(("yoochoose-clicks.dat",),
                             "https://www.kaggle.com/datasets/chadgostopp/recsys-challenge-2015", "a Kaggle login")

DATASETS: dict[str, DatasetInfo] = {info.key: info for info in [
    DatasetInfo("synthetic", "built-in generator: Zipf items, category Markov chain, brands, item text", ("synthetic",)),
    DatasetInfo("diginetica", "CIKM Cup 2016 (category); SR-GNN pickles or raw train-item-views.csv",
                ("srgnn", "diginetica"), files=DIGINETICA,
                originals=Originals(("train-item-views.csv", "product-categories.csv"),
                                    "https://competitions.codalab.org/competitions/11161",
                                    "a CodaLab account and the CIKM Cup 2016 terms")),
    DatasetInfo("tmall", "IJCAI-15 Tmall (category, brand); SR-GNN-style pickles or raw user_log_format1.csv",
                ("srgnn", "tmall"), files=TMALL,
                originals=Originals(("user_log_format1.csv",), "https://tianchi.aliyun.com/dataset/42",
                                    "a Tianchi (Alibaba Cloud) login")),
    DatasetInfo("retailrocket", "Retailrocket (category when present); SR-GNN pickles or raw events.csv",
                ("srgnn", "retailrocket"), files=RETAILROCKET,
                originals=Originals(("events.csv", "item_properties_part1.csv", "item_properties_part2.csv"),
                                    "https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset",
                                    "a Kaggle login")),
    DatasetInfo("yoochoose1_64", "RecSys 2015 clicks, most recent 1/64 (category column); pickles or raw .dat",
                ("srgnn", "yoochoose"), {"test_days": 1, "recent_fraction": 1 / 64}, files=YOOCHOOSE1_64,
                originals=YOOCHOOSE_CLICKS),
    DatasetInfo("yoochoose1_4", "RecSys 2015 clicks, most recent 1/4 (category column); pickles or raw .dat",
                ("srgnn", "yoochoose"), {"test_days": 1, "recent_fraction": 1 / 4}, originals=YOOCHOOSE_CLICKS),
    DatasetInfo("beauty", "Amazon Beauty, S3-Rec format (multi-valued attributes)", ("s3rec",), files=BEAUTY),
    DatasetInfo("sports", "Amazon Sports_and_Outdoors, S3-Rec format (multi-valued attributes)", ("s3rec",),
                files=SPORTS),
    DatasetInfo("toys", "Amazon Toys_and_Games, S3-Rec format (multi-valued attributes)", ("s3rec",), files=TOYS),
    DatasetInfo("yelp", "Yelp, S3-Rec format (multi-valued attributes)", ("s3rec",), files=YELP),
    DatasetInfo("lastfm", "LastFM, S3-Rec format (multi-valued attributes)", ("s3rec",), files=LASTFM),
    DatasetInfo("scientific", "Amazon Industrial & Scientific, UniSRec atomic files (item text)", ("atomic",),
                files=SCIENTIFIC),
]}

#: Formats tried on a folder whose key is not in the catalogue (any UniSRec-style or S3-Rec-style set).
GENERIC_FORMATS = ("atomic", "s3rec", "srgnn")
