"""Find DVC objects whose content does not match their md5 name, in the local cache or on a
remote, and remove them so that DVC sends or fetches them again (DVC 3 has no fsck).

`python tools/verify_objects.py [--remote NAME] [--remove]`, or `make verify-objects
[REMOTE=team] [REMOVE=1]`; docs/team.md says when to run it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from dvc.exceptions import DvcException
from dvc.repo import Repo
from dvc_data.hashfile.db import HashFileDB

DIR_SUFFIX = ".dir"


def object_store(repo: Repo, remote: str | None) -> HashFileDB:
    """The md5 objects of ``remote``, or of the local cache when it is None."""
    return repo.cloud.get_remote_odb(remote, "verify") if remote else repo.cache.local


def content_md5(store: HashFileDB, oid: str) -> str:
    digest = hashlib.md5()
    with store.fs.open(store.oid_to_path(oid), "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bad_objects(store: HashFileDB) -> dict[str, str]:
    """Each bad object's id and what is wrong with it: files first, then the `.dir` objects.

    DVC takes a directory's `.dir` object on a remote for all its files: `dvc push` skips
    every file of a directory whose `.dir` is there. So a `.dir` listing a missing or damaged
    object is bad too, and removing it makes the next push send the directory's files."""
    oids = sorted(store.all(), key=lambda oid: oid.endswith(DIR_SUFFIX))
    present = set(oids)
    bad: dict[str, str] = {}
    for oid in oids:
        digest = content_md5(store, oid)
        if digest != oid.removesuffix(DIR_SUFFIX):
            bad[oid] = f"content has md5 {digest}"
        elif oid.endswith(DIR_SUFFIX):
            with store.fs.open(store.oid_to_path(oid), "rb") as stream:
                entries = [entry["md5"] for entry in json.load(stream)]
            lost = [entry for entry in entries if entry not in present or entry in bad]
            if lost:
                bad[oid] = f"lists {len(lost)} missing or damaged object(s), {lost[0]} first"
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", help="a DVC remote's name (default: the local cache)")
    parser.add_argument("--remove", action="store_true", help="remove the bad objects")
    arguments = parser.parse_args(argv)
    where = f"remote {arguments.remote!r}" if arguments.remote else "the local cache"
    try:
        with Repo() as repo:
            store = object_store(repo, arguments.remote)
            bad = bad_objects(store)
    except DvcException as error:  # not in a DVC repository, a remote not configured
        print(f"error: {error}", file=sys.stderr)
        return 2
    for oid, problem in bad.items():
        if arguments.remove:
            store.fs.remove(store.oid_to_path(oid))
        print(f"{'removed' if arguments.remove else 'bad'}: {store.oid_to_path(oid)}: {problem}")
    if not bad:
        print(f"every object of {where} matches its md5")
        return 0
    repair = (
        "`dvc push` from a checkout that has them sends them again"
        if arguments.remote
        else "`dvc fetch` brings them back from the remote (or `dvc repro` makes them again)"
    )
    if arguments.remove:
        print(f"{len(bad)} bad object(s) removed from {where}: {repair}")
        return 0
    print(f"{len(bad)} bad object(s) in {where}: run again with --remove; then {repair}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
