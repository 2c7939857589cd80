"""The predicates of scripts/setup-checks.sh, pointed at fake trees.

Each case builds a small file tree (and, for commands and pkg-config modules, a fake PATH and
PKG_CONFIG_LIBDIR) and asks the shell functions what they see, so that a neighbour of a needed
file (libclang-cpp beside a missing libclang) can never again pass for the real thing.
"""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "scripts" / "setup-checks.sh"


def run_checks(expr, root=None, path=None, pkg_dir=None, env_extra=None):
    """Source the checks and evaluate `expr`; returns (exit code, stdout)."""
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": os.environ["PATH"]}
    if root is not None:
        env["SETUP_ROOT"] = str(root)
    if path is not None:
        env["PATH"] = str(path)
    if pkg_dir is not None:
        env["PKG_CONFIG_LIBDIR"] = str(pkg_dir)
        env["PKG_CONFIG_PATH"] = ""
    env.update(env_extra or {})
    bash = shutil.which("bash")
    out = subprocess.run(
        [bash, "-c", f'source "{CHECKS}"; {expr}'],
        env=env, capture_output=True, text=True, check=False,
    )
    return out.returncode, out.stdout


def touch(root, rel):
    p = Path(root) / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def fake_bin(dir_, name, body="exit 0"):
    p = Path(dir_) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return p


def test_libclang_cpp_alone_is_not_libclang(tmp_path):
    # The Debian 12 base image: the C++ interface library and nothing else.
    touch(tmp_path, "usr/lib/llvm-14/lib/libclang-cpp.so.14")
    touch(tmp_path, "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14")
    assert run_checks("has_libclang_library", root=tmp_path)[0] == 1
    assert run_checks("has_libclang", root=tmp_path)[0] == 1
    rc, out = run_checks("setup_missing_apt", root=tmp_path)
    assert "libclang-dev" in out.split()


@pytest.mark.parametrize("rel", [
    "usr/lib/llvm-14/lib/libclang.so",                 # libclang-14-dev's symlink
    "usr/lib/llvm-14/lib/libclang.so.1",               # libclang1-14
    "usr/lib/x86_64-linux-gnu/libclang-14.so.1",       # libclang1-14's multiarch name
    "usr/lib/x86_64-linux-gnu/libclang-14.so",
])
def test_each_libclang_name_that_clang_sys_loads(tmp_path, rel):
    touch(tmp_path, "usr/lib/llvm-14/lib/libclang-cpp.so.14")
    touch(tmp_path, rel)
    assert run_checks("has_libclang_library", root=tmp_path)[0] == 0


def test_libclang_needs_clang_headers_too(tmp_path):
    touch(tmp_path, "usr/lib/llvm-14/lib/libclang.so.1")
    assert run_checks("has_clang_headers", root=tmp_path)[0] == 1
    assert run_checks("has_libclang", root=tmp_path)[0] == 1
    touch(tmp_path, "usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h")
    assert run_checks("has_clang_headers", root=tmp_path)[0] == 0
    assert run_checks("has_libclang", root=tmp_path)[0] == 0
    assert "libclang-dev" not in run_checks("setup_missing_apt", root=tmp_path)[1].split()


def test_libclang_path_is_honoured(tmp_path):
    lib = tmp_path / "opt" / "llvm"
    touch(lib, "libclang.so")
    env = {"LIBCLANG_PATH": str(lib)}
    assert run_checks("has_libclang_library", root=tmp_path / "empty", env_extra=env)[0] == 0


def test_similar_names_do_not_count(tmp_path):
    for rel in ["usr/lib/llvm-14/lib/libclangBasic.a", "usr/lib/llvm-14/lib/libclang.a",
                "usr/lib/llvm-14/lib/libclang-cpp.so", "usr/lib/llvm-14/lib/libclangx.so"]:
        touch(tmp_path, rel)
    assert run_checks("has_libclang_library", root=tmp_path)[0] == 1


def test_pkg_config_modules_by_name(tmp_path):
    pc = tmp_path / "pc"
    pc.mkdir()
    for name in ["libavcodec", "libavutil"]:  # libavformat missing
        (pc / f"{name}.pc").write_text(
            f"Name: {name}\nDescription: fake\nVersion: 59.0\nLibs:\nCflags:\n")
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config is not installed")
    assert run_checks("has_pkg_module libavcodec", pkg_dir=pc)[0] == 0
    assert run_checks("has_pkg_module libavformat", pkg_dir=pc)[0] == 1
    rc, out = run_checks("setup_missing_apt", pkg_dir=pc)
    words = out.split()
    assert "libavformat-dev" in words
    assert "libavcodec-dev" not in words and "libavutil-dev" not in words
    rc, out = run_checks("setup_unmet", pkg_dir=pc)
    assert "pkg-config module libavformat" in out


def test_pkg_module_without_pkg_config(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    assert run_checks("has_pkg_module libavcodec", path=bin_)[0] == 1


def test_commands_by_name(tmp_path):
    bin_ = tmp_path / "bin"
    fake_bin(bin_, "ffmpeg")  # ffprobe missing: the tests run both
    for c in ["cc", "curl", "python3", "pkg-config"]:
        fake_bin(bin_, c)
    rc, out = run_checks("setup_missing_apt", root=tmp_path, path=bin_)
    words = out.split()
    assert "ffmpeg" in words
    assert "build-essential" not in words and "curl" not in words
    rc, out = run_checks("setup_unmet", root=tmp_path, path=bin_)
    assert "command ffprobe" in out and "command ffmpeg" not in out


def test_this_machine_is_ready():
    """After scripts/setup.sh (which .ci/run runs first) nothing is missing here."""
    rc, out = run_checks("setup_unmet")
    assert rc == 0 and out == "", out
