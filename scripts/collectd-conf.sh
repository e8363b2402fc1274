# shellcheck shell=bash
# Sourced: collectd_conf DIR PLUGIN PORT INTERVAL SOURCE...
#
# Writes DIR/collectd.conf for a collectd of our own (foreground, files in
# DIR): the hmesh plugin (PLUGIN, the built hmesh.so) reading every INTERVAL
# seconds the given sources, stats segment names or "dpdk:SOCKET" (a DPDK
# telemetry socket: the PMDs' port xstats), and write_prometheus serving them
# on 127.0.0.1:PORT. collectd loads plugins from one directory of regular
# files, so both are copied into DIR/plugins.
collectd_conf() {
	local dir=$1 plugin=$2 port=$3 interval=$4 seg
	shift 4
	mkdir -p "$dir/plugins"
	cp /usr/lib/collectd/write_prometheus.so "$plugin" "$dir/plugins/"
	{
		echo "Interval $interval"
		echo "BaseDir \"$dir\""
		echo "PIDFile \"$dir/collectd.pid\""
		echo "PluginDir \"$dir/plugins\""
		echo 'TypesDB "/usr/share/collectd/types.db"'
		echo "LoadPlugin hmesh"
		echo "<Plugin hmesh>"
		for seg in "$@"; do
			case "$seg" in
			dpdk:*) echo "  DpdkTelemetry \"${seg#dpdk:}\"" ;;
			*) echo "  Segment \"$seg\"" ;;
			esac
		done
		echo "</Plugin>"
		echo "LoadPlugin write_prometheus"
		echo "<Plugin write_prometheus>"
		echo "  Port \"$port\""
		echo "</Plugin>"
	} >"$dir/collectd.conf"
}
