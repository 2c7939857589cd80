# What the build, the demo and the tests need, as predicates (sourced by scripts/setup.sh).
#
# Each check tests for exactly the thing that is used, never for a neighbour that happens to
# sit beside it: the libclang shared library itself (not libclang-cpp), the pkg-config modules
# by name, the tools by command. File checks look under $SETUP_ROOT (empty: the machine itself),
# so tests/python/test_setup_checks.py can point them at a fake tree.

# pkg-config modules that ffmpeg-sys-next links (crates/soundscape-specvid: features codec,
# format, software-resampling).
SETUP_PKG_MODULES=(libavcodec libavformat libavutil libswresample)
# Commands the build and the tests run.
SETUP_COMMANDS=(cc pkg-config curl python3 ffmpeg ffprobe)

# The folders clang-sys (bindgen's loader) searches for libclang on Debian.
setup_libclang_dirs() {
  local root="${SETUP_ROOT:-}" arch
  arch="$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
  [ -n "${LIBCLANG_PATH:-}" ] && printf '%s\n' "$LIBCLANG_PATH"
  local d
  for d in "$root"/usr/lib/llvm-*/lib "$root/usr/lib/$arch" "$root/usr/lib64" "$root/usr/lib" "$root/usr/local/lib"; do
    [ -d "$d" ] && printf '%s\n' "$d"
  done
  return 0
}

# A libclang shared library as clang-sys loads it: libclang.so, libclang-N.so, libclang.so.N or
# libclang-N.so.M. libclang-cpp.so.N (the C++ interface, in the base image) does not count.
has_libclang_library() {
  local d f base
  while IFS= read -r d; do
    for f in "$d"/libclang.so "$d"/libclang.so.* "$d"/libclang-*.so "$d"/libclang-*.so.*; do
      [ -e "$f" ] || continue
      base="${f##*/}"
      case "$base" in
        libclang-cpp*) continue ;;
        libclang.so | libclang.so.[0-9]* | libclang-[0-9]*.so | libclang-[0-9]*.so.[0-9]*) return 0 ;;
      esac
    done
  done < <(setup_libclang_dirs)
  return 1
}

# clang's own headers (stddef.h and friends), without which bindgen cannot parse FFmpeg's.
has_clang_headers() {
  local root="${SETUP_ROOT:-}" f
  for f in "$root"/usr/lib/llvm-*/lib/clang/*/include/stddef.h "$root"/usr/lib/clang/*/include/stddef.h; do
    [ -e "$f" ] && return 0
  done
  return 1
}

has_libclang() { has_libclang_library && has_clang_headers; }

has_command() { command -v "$1" >/dev/null 2>&1; }

has_pkg_module() { has_command pkg-config && pkg-config --exists "$1" 2>/dev/null; }

has_python_venv() { has_command python3 && python3 -c 'import venv, ensurepip' >/dev/null 2>&1; }

# Debian packages that provide what is missing, one word per line.
setup_missing_apt() {
  has_command cc || echo build-essential
  has_command pkg-config || echo pkg-config
  has_command curl || printf '%s\n' curl ca-certificates
  has_command python3 || echo python3
  has_python_venv || echo python3-venv
  local m
  for m in "${SETUP_PKG_MODULES[@]}"; do
    has_pkg_module "$m" || echo "$m-dev"
  done
  has_libclang || echo libclang-dev
  { has_command ffmpeg && has_command ffprobe; } || echo ffmpeg
  return 0
}

# Every requirement that is still not met, one line each (empty when all is there).
setup_unmet() {
  local c m
  for c in "${SETUP_COMMANDS[@]}"; do
    has_command "$c" || echo "command $c"
  done
  for m in "${SETUP_PKG_MODULES[@]}"; do
    has_pkg_module "$m" || echo "pkg-config module $m"
  done
  has_libclang_library || echo "libclang shared library (libclang.so or libclang-N.so.M)"
  has_clang_headers || echo "clang's builtin headers (lib/clang/*/include/stddef.h)"
  has_python_venv || echo "python3 venv and ensurepip"
  return 0
}
