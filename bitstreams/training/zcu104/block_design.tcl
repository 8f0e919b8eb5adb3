# Vivado block design: zynq_ultra_ps_e + the HLS IPs, s_axilite on the PS master port, m_axi on HP ports
set kernels {hostsw_mac_t8 hostsw_mac_t16 hostsw_mac_t32}
create_project -force vivado_prj vivado_prj -part xczu7ev-ffvc1156-2-e
set_property board_part xilinx.com:zcu104:part0:1.1 [current_project]
set_property ip_repo_paths [list [file normalize prj_[lindex $kernels 0]/sol/impl/ip]] [current_project]
foreach k [lrange $kernels 1 end] {
  set_property ip_repo_paths [concat [get_property ip_repo_paths [current_project]] [file normalize prj_$k/sol/impl/ip]] [current_project]
}
update_ip_catalog
create_bd_design design_1
set ps [create_bd_cell -type ip -vlnv [get_ipdefs -filter {NAME == zynq_ultra_ps_e}] ps]
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
set_property -dict [list CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__USE__M_AXI_GP0 {1}] $ps
set_property CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 200.0 $ps
foreach k $kernels {
  set ipdef [get_ipdefs -filter "NAME == $k"]
  if {$ipdef eq ""} { puts "ERROR: IP $k not found in the catalog (run make ip)"; exit 1 }
  set cell [create_bd_cell -type ip -vlnv $ipdef ${k}_0]
  apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Master /ps/M_AXI_HPM0_FPD Clk Auto] [get_bd_intf_pins $cell/s_axi_control]
  foreach m [get_bd_intf_pins -of_objects $cell -filter {MODE == Master}] {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Slave /ps/S_AXI_HP0_FPD Clk Auto] $m
  }
}
assign_bd_address
validate_bd_design
save_bd_design
make_wrapper -files [get_files design_1.bd] -top
add_files -norecurse [glob vivado_prj/vivado_prj.gen/sources_1/bd/design_1/hdl/design_1_wrapper.v]
close_project
exit
