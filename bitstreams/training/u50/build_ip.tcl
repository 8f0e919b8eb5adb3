# Vitis HLS: one IP per kernel; copies each driver header (the register map) to drivers/
set kernels {hostsw_mac_t8 hostsw_mac_t16 hostsw_mac_t32}
set part xcu50-fsvh2104-2-e
set clock_ns 3.3333
file mkdir drivers reports xo ip
foreach k $kernels {
  open_project -reset prj_$k
  set_top $k
  foreach f [glob src/*.cpp] { add_files $f -cflags "-std=c++14 -Isrc " }
  open_solution -reset sol -flow_target vitis
  set_part $part
  create_clock -period $clock_ns
  csynth_design
  file copy -force prj_$k/sol/syn/report/${k}_csynth.xml reports/${k}_csynth.xml
  export_design -format xo -output xo/${k}.xo
  file copy -force prj_$k/sol/impl/misc/drivers/${k}_v1_0/src/x${k}_hw.h drivers/
  close_project
}
exit
