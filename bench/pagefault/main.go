// Command pagefault measures what a page fault costs on this machine
// (issue 6): it maps -gib GiB of anonymous memory, touches one byte per
// 4 KiB page, and prints the time per page; then does it again, -rounds
// times in all, in fresh mappings. On the project's virtual machine the
// first round cost 11–17 µs a page and later ones about 5 µs, against
// about 0.25 µs on bare metal: every page the server's heap or the page
// cache takes that the machine has not used before is that expensive,
// which shows in runs that write gigabytes (BENCHMARKS.md, "Third pass").
// It needs as much free memory as it maps.
//
//	go run ./bench/pagefault -gib 2
package main

import (
	"flag"
	"fmt"
	"log"
	"syscall"
	"time"
)

func main() {
	gib := flag.Int("gib", 2, "GiB to map and touch each round")
	rounds := flag.Int("rounds", 2, "rounds, each in a fresh mapping")
	flag.Parse()
	size := *gib << 30
	for r := range *rounds {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			log.Fatalf("map %d GiB: %v", *gib, err)
		}
		t := time.Now()
		for i := 0; i < size; i += 4096 {
			b[i] = 1
		}
		d := time.Since(t)
		fmt.Printf("round %d: touched %d GiB in %v, %.2f µs a page\n", r+1, *gib, d.Round(time.Millisecond), float64(d.Nanoseconds())/1000/float64(size/4096))
		if err := syscall.Munmap(b); err != nil {
			log.Fatal(err)
		}
	}
}
