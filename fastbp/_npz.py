"""Checks on one member of an npz (zip) archive, made before numpy allocates anything for it.

``np.load`` allocates the shape a member's .npy header announces before reading its data, so a
few hostile bytes could ask for terabytes.  Both the model files (:mod:`fastbp.io`) and user
``.npz`` data (:mod:`fastbp.datasets`) read the header first and compare it with what the archive
can hold.
"""

from __future__ import annotations

import zipfile

import numpy as np

#: Deflate cannot expand data by more than ~1032:1; a member claiming more is lying.
MAX_DEFLATE_RATIO = 1032


def claims_too_much(info: zipfile.ZipInfo, archive_size: int) -> bool:
    """True when the member's sizes cannot be honest for an archive of ``archive_size`` bytes."""
    if info.compress_size > archive_size:
        return True
    if info.compress_type == zipfile.ZIP_STORED:
        return info.file_size > info.compress_size
    return info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 1024


def read_npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """(shape, dtype, header length) from the member's .npy header; reads no array data.

    Raises what the zip or .npy readers raise on damaged bytes (OSError, EOFError, ValueError,
    zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError); callers rewrap them.
    """
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        return shape, dtype, f.tell()
