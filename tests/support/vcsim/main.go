// vcsim for drctl's tests: govmomi's vSphere simulator (simulator.VPX) shaped like a homelab —
// one datacenter DC0, one standalone host DC0_H0, one datastore LocalDS_0 (a temporary
// directory: disk files are real files served by /folder), distributed port groups named by
// -portgroups on the switch DVS0, and -vms N virtual machines of varied shape on them (CPUs,
// memory, disks thin and thick, NIC types, fixed MACs, firmware, boot order, an ISO CD-ROM,
// annotations) so a capture/define round trip has something to compare. Logins other than
// -username/-password fail with vcsim's "Login failure". Prints "URL https://127.0.0.1:PORT/sdk"
// once ready, then serves until killed or until its stdin (when a pipe) closes.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	username := flag.String("username", "user", "the only user that can log in")
	password := flag.String("password", "pass", "that user's password")
	portgroups := flag.String("portgroups", "", "distributed port groups NAME[:VLAN],… on DVS0")
	vms := flag.Int("vms", 0, "how many VMs to create (0: an empty inventory)")
	certFile := flag.String("cert", "", "PEM certificate to serve (default: govmomi's built-in localhost one)")
	keyFile := flag.String("key", "", "PEM private key of -cert")
	flag.Parse()
	log.SetOutput(ioutil.Discard) // the simulator logs every call; the tests read stdout only

	model := simulator.VPX()
	model.Datacenter, model.Host, model.Cluster, model.ClusterHost = 1, 1, 0, 0
	model.Portgroup, model.Datastore, model.Machine = 0, 1, 0
	if err := model.Create(); err != nil {
		fail("creating the inventory", err)
	}
	defer model.Remove()

	model.Service.TLS = new(tls.Config)
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail("loading -cert/-key", err)
		}
		model.Service.TLS.Certificates = []tls.Certificate{cert}
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	server := model.Service.NewServer()
	defer server.Close()

	if err := populate(server.URL, *portgroups, *vms); err != nil {
		fail("populating the inventory", err)
	}

	public := *server.URL
	public.User = nil
	fmt.Printf("URL %s\n", public.String())
	os.Stdout.Sync()

	if info, err := os.Stdin.Stat(); err == nil && info.Mode()&os.ModeNamedPipe != 0 {
		_, _ = io.Copy(ioutil.Discard, os.Stdin) // the test that started us is gone: stop
		return
	}
	select {}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "vcsim: %s: %v\n", what, err)
	os.Exit(1)
}

// populate adds the port groups and VMs through the API, as a client would.
func populate(u *url.URL, portgroups string, vms int) error {
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return err
	}
	defer c.Logout(ctx)
	finder := find.NewFinder(c.Client, true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}

	var names []string
	if portgroups != "" {
		var spec types.DVSCreateSpec
		spec.ConfigSpec = &types.VMwareDVSConfigSpec{}
		spec.ConfigSpec.GetDVSConfigSpec().Name = "DVS0"
		task, err := folders.NetworkFolder.CreateDVS(ctx, spec)
		if err != nil {
			return err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return err
		}
		dvs := object.NewDistributedVirtualSwitch(c.Client, info.Result.(types.ManagedObjectReference))
		host, err := finder.DefaultHostSystem(ctx)
		if err != nil {
			return err
		}
		member := &types.DVSConfigSpec{Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{
			Operation: string(types.ConfigSpecOperationAdd), Host: host.Reference()}}}
		if task, err = dvs.Reconfigure(ctx, member); err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			return err
		}
		for _, item := range strings.Split(portgroups, ",") {
			name, vlan := item, 0
			if i := strings.IndexByte(item, ':'); i >= 0 {
				name = item[:i]
				if vlan, err = strconv.Atoi(item[i+1:]); err != nil {
					return fmt.Errorf("VLAN of %q: %v", item, err)
				}
			}
			spec := types.DVPortgroupConfigSpec{Name: name, Type: "earlyBinding"}
			if vlan != 0 {
				spec.DefaultPortConfig = &types.VMwareDVSPortSetting{
					Vlan: &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: int32(vlan)}}
			}
			task, err := dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{spec})
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				return err
			}
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		names = []string{"VM Network"} // the host's standard network
	}
	for i := 1; i <= vms; i++ {
		if err := createVM(ctx, c, finder, folders, names, i); err != nil {
			return err
		}
	}
	return nil
}

// createVM makes VM number i: its shape varies with i so the VMs differ from each other.
func createVM(ctx context.Context, c *govmomi.Client, finder *find.Finder, folders *object.DatacenterFolders,
	networks []string, i int) error {
	name := fmt.Sprintf("vm-%d", i)
	guests := []string{"otherGuest64", "ubuntu64Guest", "centos7_64Guest", "freebsd12_64Guest"}
	firmware := []string{"bios", "efi"}[i%2]
	spec := types.VirtualMachineConfigSpec{
		Name: name, NumCPUs: int32(1 + i%4), MemoryMB: int64(512 * (1 + i%3)),
		GuestId: guests[i%len(guests)], Firmware: firmware,
		Annotation: fmt.Sprintf("test VM %d\nsecond line", i),
		Files:      &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
	}
	ds, err := finder.DefaultDatastore(ctx)
	if err != nil {
		return err
	}
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("pvscsi")
	devices = append(devices, scsi)
	for d := 0; d < 1+i%2; d++ {
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(),
			fmt.Sprintf("[LocalDS_0] %s/%s-disk%d.vmdk", name, name, d))
		disk.CapacityInKB = int64(1+d+i%3) * 1024 * 1024
		disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = types.NewBool((i+d)%2 == 0)
		devices = append(devices, disk)
	}
	if i%3 == 2 { // these boot from CD-ROM first (see the boot order below)
		ide, _ := devices.CreateIDEController()
		devices = append(devices, ide)
		cdrom, _ := devices.CreateCdrom(ide.(*types.VirtualIDEController))
		devices = append(devices, devices.InsertIso(cdrom, "[LocalDS_0] iso/installer.iso"))
	}
	adapters := []string{"vmxnet3", "e1000", "e1000e"}
	for n := 0; n < 1+i%len(networks); n++ {
		pg, err := finder.Network(ctx, networks[n%len(networks)])
		if err != nil {
			return err
		}
		backing, err := pg.EthernetCardBackingInfo(ctx)
		if err != nil {
			return err
		}
		nic, err := devices.CreateEthernetCard(adapters[(i+n)%len(adapters)], backing)
		if err != nil {
			return err
		}
		card := nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.AddressType = string(types.VirtualEthernetCardMacTypeManual)
		card.MacAddress = fmt.Sprintf("00:50:56:%02x:%02x:%02x", i/256, i%256, n)
		devices = append(devices, nic)
	}
	if spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return err
	}
	for _, change := range spec.DeviceChange {
		if _, ok := change.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
			change.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	host, err := finder.DefaultHostSystem(ctx)
	if err != nil {
		return err
	}
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		return err
	}
	task, err := folders.VmFolder.CreateVM(ctx, spec, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	vm := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
	// The boot order names the VM's real device keys, known once it exists.
	created, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	order := [][]string{{"disk", "ethernet"}, {"ethernet", "disk"}, {"cdrom", "disk", "ethernet"}}[i%3]
	if err = vm.SetBootOptions(ctx, &types.VirtualMachineBootOptions{BootOrder: created.BootOrder(order)}); err != nil {
		return err
	}
	if i%2 == 1 {
		task, err := vm.PowerOn(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		return err
	}
	return nil
}
