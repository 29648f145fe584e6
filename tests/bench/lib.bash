# shellcheck shell=bash
# lib.bash: helpers of the benchmarks in tests/bench/ (not a benchmark
# itself: run.sh only picks up *.sh). Source after tests/vm/lib.sh.
#
#   lvm_setup DEV...   a private LVM configuration that accepts only DEV...,
#                      for the LVM anchors (lvcreate, pvmove): exports
#                      LVM_SYSTEM_DIR=/tmp/lvmsys (its lvm.conf) and
#                      LVM_SUPPRESS_FD_WARNINGS=1 (the inherited-fd warnings)
#
# LVM in the guest (workarounds): /etc/lvm is the host's, read-only, and
# there is no udev, lvmpolld or dmeventd. So the lvm.conf is our own, in
# /tmp: no udev (obtain_device_list_from_udev=0, udev_sync=0, udev_rules=0;
# DM_DISABLE_UDEV=1 is set by the harness, so libdevmapper makes the
# /dev/mapper nodes itself), no lvmpolld (pvmove polls in the foreground),
# no dmeventd (monitoring=0, else a mirror activation waits for it), no
# metadata backup/archive (backup_dir is under read-only /etc), no devices
# file and no hints, and "nullb" added to devices/types (LVM 2.03.16 does
# not know null_blk and would ignore the devices). lvmetad does not exist in
# 2.03 (use_lvmetad is gone), so nothing to turn off there. The filter
# accepts only the given devices, so LVM never scans the cvol devices.

lvm_setup() {
	local dev filter=
	for dev; do filter+="\"a|^$dev\$|\", "; done
	export LVM_SYSTEM_DIR=/tmp/lvmsys LVM_SUPPRESS_FD_WARNINGS=1
	mkdir -p "$LVM_SYSTEM_DIR"
	cat >"$LVM_SYSTEM_DIR/lvm.conf" <<EOF2
devices {
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
	hints = "none"
	types = [ "nullb", 16 ]
	filter = [ $filter"r|.*|" ]
	md_component_detection = 0
	multipath_component_detection = 0
	fw_raid_component_detection = 0
}
global {
	use_lvmpolld = 0
	locking_dir = "/run/lock/lvm"
	event_activation = 0
	notify_dbus = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
backup {
	backup = 0
	archive = 0
}
EOF2
}
