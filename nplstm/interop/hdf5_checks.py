"""Check that an HDF5 file holds its own data, before anything else in it is read.

An HDF5 file can name other files: an external link (a group or dataset of another file), a
soft link (a path, which h5py follows wherever it leads), a virtual dataset (a view of
datasets in other files), a dataset with external storage (its bytes in raw files).  Reading
any of them reads files the caller never gave.  A dataset can also declare more bytes than
the file holds (never-written storage, read as its fill value; or compressed chunks), so a
tiny file could make the reader allocate gigabytes.

``check_self_contained`` walks every link of the file once (without following any but hard
links) and refuses, naming the link:

    external, soft and user-defined links       UnsafeFileError
    virtual datasets, external storage          UnsafeFileError
    a group or dataset reached by two links      WeightFileError
    (a cycle, a shared dataset), datasets
    declaring more bytes in all than the file
    groups nested deeper than MAX_DEPTH          WeightFileError
    filtered (compressed) datasets, datasets     WeightFileError
    declaring more bytes than stored in the file

Soft links are refused even when they point inside the file: Keras never writes one, and a
path that aliases another layer's weights is not a layer's own.  The walk costs time in
proportion to the number of links, which the file's size bounds; nothing is read from a
dataset.
"""

from __future__ import annotations

from .errors import UnsafeFileError, WeightFileError
from ..checks import printable_name, quoted_name

__all__ = ["check_self_contained", "MAX_DEPTH"]

MAX_DEPTH = 64       # Keras's deepest paths (nested models, Bidirectional) are about 12


def check_self_contained(h5py, f, where: str, file_size: int) -> None:
    """Refuse (see the module docstring) any link, group or dataset of the open h5py file
    ``f`` (``file_size`` bytes) that is not data of the file itself; ``where`` names it."""
    seen, declared = {f.id}, 0
    stack = [("", f, 0)]
    while stack:
        path, group, depth = stack.pop()
        for name in group:
            link_path = f"{path}/{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                kind = {h5py.SoftLink: "a soft link", h5py.ExternalLink: "an external link"}
                kind = kind.get(type(link), "a user-defined link")
                target = (f" to {printable_name(link.filename)}:{printable_name(link.path)}"
                          if isinstance(link, h5py.ExternalLink) else
                          f" to {printable_name(link.path)}" if isinstance(link, h5py.SoftLink)
                          else "")
                raise UnsafeFileError(
                    f"{where}: {quoted_name(link_path)} is {kind}"
                    f"{target}; nplstm reads only the file's own groups and datasets (hard "
                    "links), and followed nothing")
            item = group[name]
            if isinstance(item, (h5py.Group, h5py.Dataset)) and item.id in seen:
                raise WeightFileError(f"{where}: {quoted_name(link_path)} is reached by a second "
                                      "link (a cycle, or a group or dataset shared, which Keras "
                                      "never writes)")
            if isinstance(item, h5py.Group):
                if depth + 1 > MAX_DEPTH:
                    raise WeightFileError(f"{where}: groups are nested deeper than {MAX_DEPTH}")
                seen.add(item.id)
                stack.append((link_path, item, depth + 1))
            elif isinstance(item, h5py.Dataset):
                _check_dataset(item, f"{where}: the dataset {quoted_name(link_path)}", file_size)
                seen.add(item.id)
                declared += item.nbytes
                if declared > file_size:
                    raise WeightFileError(f"{where}: its datasets declare more bytes than the "
                                          f"file's {file_size} (datasets sharing storage)")


def _check_dataset(dataset, where: str, file_size: int) -> None:
    if dataset.is_virtual:
        raise UnsafeFileError(f"{where} is a virtual dataset (a view of other files' "
                              "datasets); nplstm reads only data stored in the file itself")
    plist = dataset.id.get_create_plist()
    if plist.get_external_count():
        raise UnsafeFileError(f"{where} keeps its bytes in an external file "
                              f"({printable_name(plist.get_external(0)[0])}); nplstm reads "
                              "only data stored in the file itself")
    if plist.get_nfilters():
        raise WeightFileError(f"{where} is filtered (compressed); Keras writes plain "
                              "datasets, and a compressed one's size is not bounded by the file")
    stored = dataset.id.get_storage_size()
    if dataset.nbytes > min(stored, file_size):
        raise WeightFileError(f"{where} declares {dataset.nbytes} bytes but the file stores "
                              f"{stored} of them (never written, or past the file's end)")
