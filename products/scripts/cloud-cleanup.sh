#!/bin/sh
# Runs inside the build root after installation: forget this build's identity.
set -eu
: > /etc/machine-id
rm -f /etc/ssh/ssh_host_*
