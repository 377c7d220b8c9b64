#!/bin/sh
# The server under test for the catvs conformance suite. catvs starts it once
# per test case with EPICS_CA_SERVER_PORT set and kills its process group.
#   dut.sh service-ioc     the built command line (dist/cli.js softioc)
#   dut.sh softIoc DIR     EPICS base's softIoc from the bundle's bin/ DIR
# Loopback only; beacons go to EPICS_CAS_BEACON_PORT if set.
set -e
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
export EPICS_CAS_INTF_ADDR_LIST=127.0.0.1
export EPICS_CAS_AUTO_BEACON_ADDR_LIST=NO
export EPICS_CAS_BEACON_ADDR_LIST=127.0.0.1
case "$1" in
  service-ioc)
    exec node "$repo/dist/cli.js" softioc -d "$here/catvs.db" ;;
  softIoc)
    [ -x "$2/softIoc" ] || { echo "dut.sh: no softIoc in '$2'" >&2; exit 2; }
    exec "$2/softIoc" -D "$2/../dbd/softIoc.dbd" -S -d "$here/catvs.db" ;;
  *)
    echo "usage: dut.sh service-ioc | dut.sh softIoc EPICS_BIN_DIR" >&2; exit 2 ;;
esac
