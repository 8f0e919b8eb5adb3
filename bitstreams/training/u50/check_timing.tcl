# Fails (exit 1) unless the routed timing summary says every constraint is met. Plain Tcl:
#   tclsh check_timing.tcl reports/timing_summary.rpt
set path [expr {[llength $argv] ? [lindex $argv 0] : "reports/timing_summary.rpt"}]
if {![file exists $path]} { puts "ERROR: no timing report $path (run make bitstream)"; exit 1 }
set f [open $path r]
set text [read $f]
close $f
if {[string first "All user specified timing constraints are met." $text] < 0} {
  puts "ERROR: timing NOT met in $path: lower the clock (hostsw bitstream build --clock-mhz) and rebuild"
  exit 1
}
puts "timing met: $path"
exit 0
