# Vivado: synthesis, implementation, bitstream; the .bit and .hwh PYNQ loads, and the reports
open_project vivado_prj/vivado_prj.xpr
launch_runs impl_1 -to_step write_bitstream -jobs 8
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] != "100%"} { puts "ERROR: implementation failed"; exit 1 }
open_run impl_1
file mkdir reports
report_timing_summary -file reports/timing_summary.rpt
report_utilization -file reports/utilization.rpt
file copy -force vivado_prj/vivado_prj.runs/impl_1/design_1_wrapper.bit hostsw_training.bit
file copy -force [glob vivado_prj/vivado_prj.gen/sources_1/bd/design_1/hw_handoff/design_1.hwh] hostsw_training.hwh
close_project
exit
