# Sourced by build-deb.sh and build-rpm.sh: the files that make up a source release.

# Print the project's files NUL-separated, relative to the top: in a git checkout the tracked files plus new
# ones git does not ignore (no .venv, no caches); elsewhere (an unpacked tarball) everything but build output.
project_files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
            [ -e "$f" ] && printf '%s\0' "$f"
        done
    else
        find . \( -name .venv -o -name .git -o -name build -o -name dist \) -prune -o \( -type f -o -type l \) -printf '%P\0'
    fi
}
