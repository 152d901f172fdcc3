"""Find the files of this checkout whose DVC objects are missing or damaged, on a remote or in
the local cache, and repair them (DVC 3 has no fsck; a failing `dvc pull` names only a
directory output, or an md5).

`python tools/verify_objects.py [--remote NAME] [--repair]`, or `make verify-objects
[REMOTE=team] [REPAIR=1]`; docs/team.md says when to run it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict

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


def damaged_objects(store: HashFileDB) -> dict[str, str]:
    """Each object of ``store`` whose content does not match its name, with the md5 it has."""
    damaged = {}
    for oid in store.all():
        digest = content_md5(store, oid)
        if digest != oid.removesuffix(DIR_SUFFIX):
            damaged[oid] = digest
    return damaged


def dir_listing(oid: str, stores: list[HashFileDB]) -> list[tuple[str, str]]:
    """Each file a `.dir` object lists, as (path inside the directory, md5), read from the
    first of ``stores`` that holds it intact; nothing when none does."""
    for store in stores:
        if store.exists(oid) and content_md5(store, oid) == oid.removesuffix(DIR_SUFFIX):
            with store.fs.open(store.oid_to_path(oid), "rb") as stream:
                return [(entry["relpath"], entry["md5"]) for entry in json.load(stream)]
    return []


def checkout_objects(repo: Repo, stores: list[HashFileDB]) -> dict[str, list[str]]:
    """Every object the checkout's outputs (dvc.lock) need, with the workspace paths it gives:
    a directory output's `.dir` gives ``<directory>/``, each file it lists its own path."""
    paths: dict[str, list[str]] = defaultdict(list)
    for out in repo.index.outs:
        if not (out.use_cache and out.hash_info and out.hash_info.value):
            continue  # in git, or an output of a pipeline never run (the sweeps')
        path = os.path.relpath(out.fs_path, repo.root_dir)
        oid = out.hash_info.value
        if not oid.endswith(DIR_SUFFIX):
            paths[oid].append(path)
            continue
        paths[oid].append(f"{path}/")
        for relpath, entry in dir_listing(oid, stores):
            paths[entry].append(f"{path}/{relpath}")
    return paths


def stale_listings(store: HashFileDB, bad: set[str]) -> set[str]:
    """The intact `.dir` objects of ``store`` that list a bad object. DVC takes a directory's
    `.dir` on a remote for all its files (`dvc push` skips a directory whose `.dir` is there),
    so removing it is what makes the next push send the directory's files."""
    listings = [oid for oid in store.all() if oid.endswith(DIR_SUFFIX) and oid not in bad]
    return {oid for oid in listings if any(entry in bad for _, entry in dir_listing(oid, [store]))}


def problems(
    store: HashFileDB, needed: dict[str, list[str]], damaged: dict[str, str], missing: set[str], where: str
) -> list[str]:
    """One line per workspace path whose object is damaged or missing in ``store``, in the
    order of the paths (an object's md5 changes with its content: it would reorder them)."""
    damaged_lines = [
        (path, f"damaged in {where}: {path} (object {store.oid_to_path(oid)} has md5 {digest})")
        for oid, digest in damaged.items()
        for path in needed.get(oid, ["(no output of this checkout)"])
    ]
    missing_lines = [
        (path, f"missing in {where}: {path} (object {store.oid_to_path(oid)})")
        for oid in missing
        for path in needed[oid]
    ]
    return [line for _, line in sorted(damaged_lines)] + [line for _, line in sorted(missing_lines)]


def verify(repo: Repo, remote: str | None) -> tuple[HashFileDB, list[str], set[str]]:
    """The store, a line per bad workspace path, and the objects a repair removes."""
    store = object_store(repo, remote)
    where = f"remote {remote!r}" if remote else "the local cache"
    damaged = damaged_objects(store)
    needed = checkout_objects(repo, [store, repo.cache.local])
    # A local cache lacks what was never pulled: only a remote is expected to hold everything.
    missing = {oid for oid in needed if oid not in damaged and not store.exists(oid)} if remote else set()
    removable = set(damaged) | stale_listings(store, set(damaged) | missing)
    return store, problems(store, needed, damaged, missing, where), removable


def repair(repo: Repo, store: HashFileDB, removable: set[str], remote: str | None) -> int:
    """Remove the bad objects, then send them again (remote) or fetch them again (cache)."""
    for oid in sorted(removable):
        store.fs.remove(store.oid_to_path(oid))
    with Repo(repo.root_dir) as fresh:  # nothing remembered of the store before the removal
        return fresh.push(remote=remote) if remote else fresh.fetch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", help="a DVC remote's name (default: the local cache)")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="remove the bad objects, then push (remote) or fetch (local cache) them again",
    )
    arguments = parser.parse_args(argv)
    where = f"remote {arguments.remote!r}" if arguments.remote else "the local cache"
    try:
        with Repo() as repo:
            store, lines, removable = verify(repo, arguments.remote)
            if lines and arguments.repair:
                again = repair(repo, store, removable, arguments.remote)
                resent = "pushed" if arguments.remote else "fetched"
                print(f"removed {len(removable)} bad object(s) from {where}; {again} file(s) {resent} again")
                store, lines, removable = verify(repo, arguments.remote)
    except DvcException as error:  # not in a DVC repository, a remote not configured
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not lines:
        print(f"every file of this checkout is intact in {where}")
        return 0
    print(*lines, sep="\n")
    if arguments.repair:
        print(f"{len(lines)} file(s) still bad in {where}: this checkout does not have them intact")
    elif arguments.remote:
        print(
            f"{len(lines)} file(s) missing or damaged in {where}: whoever pushed them (a checkout "
            f"whose `dvc status` is clean) runs `make verify-objects REMOTE={arguments.remote} REPAIR=1`, "
            "then `dvc pull` again"
        )
    else:
        print(f"{len(lines)} file(s) damaged in the local cache: `make verify-objects REPAIR=1` fetches them again")
    return 1


if __name__ == "__main__":
    sys.exit(main())
