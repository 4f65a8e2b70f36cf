#!/bin/sh
# By hand (needs uv and the network to PyPI; minutes on a cold uv cache): installs the repository as a Claude Code
# plugin in a throwaway HOME, with uv on PATH and no gto, and checks that the launcher builds gto and the server
# connects; then that without uv or gto the launcher names the command to run. tests/mcp/test_plugin.py covers the
# rest (installed gto, launcher choices) on every CI run.
# Usage: sh .ci/plugin-install-test.sh [REPO_DIR]
set -eu
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
claude_bin=$repo/.ci/node/node_modules/.bin/claude
[ -x "$claude_bin" ] || claude_bin=$(command -v claude) || { echo "FAIL: no claude (see .ci/run)" >&2; exit 1; }
uvx_bin=$(command -v uvx) || { echo "FAIL: no uvx (pip install uv)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The repository's own files, as a clone from GitHub would have them (a local marketplace is copied whole).
mkdir "$work/repo"
tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./.ci/node --exclude=.gto --exclude=__pycache__ \
  --exclude='*.egg-info' --exclude=.pytest_cache -cf - . | tar -C "$work/repo" -xf -
export HOME="$work/home" DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
mkdir -p "$HOME" "$work/project"
PATH="$(dirname "$uvx_bin"):$(dirname "$claude_bin"):/usr/bin:/bin"
export PATH
command -v gto >/dev/null && fail "gto is on $PATH; this test needs uv alone"

claude plugin validate "$work/repo" | grep -q 'Validation passed' || fail "marketplace.json invalid"
claude plugin validate "$work/repo/.claude-plugin/plugin.json" | grep -q 'Validation passed' ||
  fail "plugin.json invalid"
claude plugin marketplace add "$work/repo" >/dev/null
claude plugin install gemini-tuning@gemini-tuning-orchestrator >/dev/null

cd "$work/project"
# 1. uv present, gto absent: uv builds gto from the plugin root and the server answers the MCP handshake.
out=$(claude mcp list 2>&1)
echo "$out"
echo "$out" | grep -q 'plugin:gemini-tuning:gto: .*Connected' || fail "server did not connect with uv on PATH"
# 2. neither uv nor gto: the launcher names the command to run, writes nothing to stdout and exits 127.
set +e
stdout=$(env -i PATH=/usr/bin:/bin CLAUDE_PLUGIN_ROOT="$work/repo" sh "$work/repo/plugin/bin/gto-mcp" \
  2>"$work/err" </dev/null)
rc=$?
set -e
[ "$rc" -eq 127 ] && [ -z "$stdout" ] && grep -q 'pip install uv' "$work/err" || fail "launcher without uv: rc=$rc"
cat "$work/err"
echo OK
