# build_training_engine.tcl -- Vitis HLS flow of the training MAC engine, one IP per datapath tier.
#
# Run inside a project written by `hostsw hls RUN_DIR --training --out DIR` (it copies this file
# to DIR/build.tcl beside project.tcl, src/ and tb/):
#     cd DIR && vitis_hls -f build.tcl
# Steps (HOSTSW_STEPS, default "csim csynth export"; add cosim for C/RTL co-simulation):
#   csim    csim_design: the C++ test bench on the reference vectors of tb/vectors
#   csynth  csynth_design: reports in prj_t<tier>/sol/syn/report (latency, II, resources)
#   cosim   cosim_design with the same bench and vectors
#   export  export_design -format ip_catalog: the IP for the block design; the register map is in
#           prj_t<tier>/sol/impl/misc/drivers/hostsw_mac_t<tier>_v1_0/src/xhostsw_mac_t<tier>_hw.h
# project.tcl sets: tiers, part, clock (ns).
source project.tcl
set steps [expr {[info exists ::env(HOSTSW_STEPS)] ? $::env(HOSTSW_STEPS) : "csim csynth export"}]
foreach tier $tiers {
  open_project -reset prj_t$tier
  set_top hostsw_mac_t$tier
  add_files src/hostsw_mac_top.cpp -cflags "-std=c++14 -Isrc"
  add_files -tb tb/mac_engine_tb.cpp -cflags "-std=c++14 -Isrc"
  open_solution -reset sol -flow_target vivado
  set_part $part
  create_clock -period $clock
  set vectors [glob -nocomplain [file normalize tb/vectors]/*_t${tier}_*.txt]
  if {[lsearch $steps csim] >= 0} { csim_design -argv [join $vectors " "] }
  if {[lsearch $steps csynth] >= 0} { csynth_design }
  if {[lsearch $steps cosim] >= 0} { cosim_design -argv [join $vectors " "] }
  if {[lsearch $steps export] >= 0} { export_design -format ip_catalog }
  close_project
}
exit
