#!/bin/sh
# Install the PlantStream edge agent on a gateway (Debian/Ubuntu, as root):
#   - a system user `plantstream-edge` (no login, no home),
#   - a virtualenv in /opt/plantstream-edge with plantstream[edge] (no numpy/numba),
#   - /etc/plantstream-edge/edge.toml (from --config, else left for you to write),
#   - the systemd unit plantstream-edge.service, enabled and started.
#
#   install.sh [--config edge.toml] [--package 'plantstream[edge]==0.1.0']
#              [--lock requirements/edge.txt] [--no-watchdog] [--no-start]
# Dependencies are installed from the edge lock (the repository's requirements/edge.txt,
# the same file the edge image and the tests use), the package itself without them.
set -eu

prefix=/opt/plantstream-edge
confdir=/etc/plantstream-edge
unit_dir=/etc/systemd/system
user=plantstream-edge
package='plantstream[edge]'
config=""
lock=""
watchdog=yes
start=yes
here=$(cd "$(dirname "$0")" && pwd)

while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --package) package=$2; shift 2 ;;
    --lock) lock=$2; shift 2 ;;
    --no-watchdog) watchdog=no; shift ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "run as root" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required" >&2; exit 1; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "python3 >= 3.11 is required" >&2; exit 1; }

if ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/plantstream-edge \
    --shell /usr/sbin/nologin "$user"
fi

if [ ! -x "$prefix/bin/python" ]; then
  python3 -m venv "$prefix"
fi
[ -n "$lock" ] || lock="$here/../../requirements/edge.txt"
if [ ! -f "$lock" ]; then
  echo "edge lock not found: $lock (pass --lock FILE)" >&2
  exit 1
fi
"$prefix/bin/pip" install --quiet --requirement "$lock"
"$prefix/bin/pip" install --quiet --no-deps "$package"
# the edge extra must stay lean: refuse an install that pulled server dependencies
if "$prefix/bin/python" -c 'import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in ("numpy", "numba")) else 1)'; then
  echo "numpy/numba found in $prefix: not an edge install" >&2
  exit 1
fi

install -d -m 0750 -o root -g "$user" "$confdir"
if [ -n "$config" ]; then
  install -m 0640 -o root -g "$user" "$config" "$confdir/edge.toml"
elif [ ! -f "$confdir/edge.toml" ]; then
  echo "note: write $confdir/edge.toml (mode 0640, group $user) before starting" >&2
  start=no
fi

install -m 0644 "$here/../systemd/plantstream-edge.service" "$unit_dir/plantstream-edge.service"
if [ "$watchdog" = no ]; then
  install -d -m 0755 "$unit_dir/plantstream-edge.service.d"
  install -m 0644 "$here/../systemd/plantstream-edge-simple.conf" \
    "$unit_dir/plantstream-edge.service.d/simple.conf"
fi
systemctl daemon-reload
systemctl enable plantstream-edge.service
if [ "$start" = yes ]; then
  "$prefix/bin/plantstream" edge check --config "$confdir/edge.toml" \
    || echo "warning: edge check failed (sources or broker unreachable?); starting anyway" >&2
  systemctl restart plantstream-edge.service
  systemctl --no-pager status plantstream-edge.service || true
fi
echo "installed: $prefix, unit plantstream-edge.service, config $confdir/edge.toml"
