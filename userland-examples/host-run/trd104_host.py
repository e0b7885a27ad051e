#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT

"""Runs the apps of a qemu_rv32_virt flash image on a tiny TRD104 host.

A development aid, not a kernel and not part of `make test`: it lets the
userland be checked without the board, and tells userland bugs from kernel
bugs. Each enabled TBF of the image (from offset 0x100000) becomes a process
with its own Unicorn RV32 CPU that maps only the process's flash (R/X) and
its RAM (R/W, `minimum_ram_size` rounded up to 4 KiB), so any other access
faults. The host starts it per doc/userland.md ("Process start-up
contract"), preempts it every TIMESLICE instructions, and offers console
(0x1, write only), alarm (0x0, commands 0, 1, 2, 5; virtual time, 1 MHz,
one tick per 10 instructions) and low-level debug (0x8). System calls and
upcalls follow TRD104 as hw/tock-abi.md sums it up.

Needs the `unicorn` Python package (PyPI). Usage:

    python3 -m venv /tmp/unicorn && /tmp/unicorn/bin/pip install unicorn
    tools/apps.sh install /tmp/flash.bin hello sleep   # any image works
    /tmp/unicorn/bin/python userland-examples/host-run/trd104_host.py /tmp/flash.bin

`--timeslice N` sets the preemption interval; a huge value turns
preemption off (spin_a and spin_b then no longer interleave).
"""

import argparse
import struct
import sys

from unicorn import (UC_ARCH_RISCV, UC_HOOK_INTR, UC_MODE_RISCV32, UC_PROT_ALL,
                     UC_PROT_EXEC, UC_PROT_READ, Uc, UcError)
from unicorn.riscv_const import (UC_RISCV_REG_A0, UC_RISCV_REG_A1, UC_RISCV_REG_A2,
                                 UC_RISCV_REG_A3, UC_RISCV_REG_A4, UC_RISCV_REG_PC,
                                 UC_RISCV_REG_RA, UC_RISCV_REG_SP)

IMAGE_BASE = 0x80000000
APPS_OFFSET = 0x100000
PAGE = 0x1000
ALARM_HZ = 1_000_000
INSTRUCTIONS_PER_TICK = 10
ARGUMENT_REGISTERS = [UC_RISCV_REG_A0, UC_RISCV_REG_A1, UC_RISCV_REG_A2, UC_RISCV_REG_A3]

# TRD104 numbers.
YIELD, SUBSCRIBE, COMMAND, ALLOW_RW, ALLOW_RO, MEMOP, EXIT = range(7)
YIELD_NO_WAIT, YIELD_WAIT, YIELD_WAIT_FOR = range(3)
FAILURE, SUCCESS, SUCCESS_U32, SUCCESS_U32_U32 = 0, 128, 129, 130
FAILURE_U32_U32 = 2
BUSY, INVAL, NOSUPPORT, NODEVICE = 2, 6, 10, 11
ALARM, CONSOLE, LOW_LEVEL_DEBUG = 0x0, 0x1, 0x8
# Unicorn reports `ecall` as exception 8 (from U-mode) or 11 (from M-mode).
ECALL_CAUSES = (8, 11)


def page_up(value):
    return (value + PAGE - 1) & ~(PAGE - 1)


class Clock:
    ticks = 0


class Process:
    """One app: its CPU, its driver state and its upcall queue."""

    def __init__(self, name, flash, tbf, header_size, init_offset, protected_size,
                 minimum_ram, ram):
        self.name = name
        self.cpu = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        flash_page = flash & ~(PAGE - 1)
        self.cpu.mem_map(flash_page, page_up(flash + len(tbf)) - flash_page,
                         UC_PROT_READ | UC_PROT_EXEC)
        self.cpu.mem_write(flash, tbf)
        self.ram = ram
        self.ram_size = page_up(minimum_ram)
        # The grant page above the break is part of the allocation but not
        # mapped: the process cannot reach it.
        self.memory_length = self.ram_size + PAGE
        self.cpu.mem_map(ram, self.ram_size, UC_PROT_ALL)
        self.pc = flash + header_size + init_offset
        entry = [flash + header_size + protected_size, ram, self.memory_length,
                 ram + self.ram_size]
        for register, value in zip(ARGUMENT_REGISTERS, entry):
            self.cpu.reg_write(register, value)
        self.cpu.reg_write(UC_RISCV_REG_SP, ram)
        self.cpu.hook_add(UC_HOOK_INTR, self.on_exception)
        self.upcalls = {}      # (driver, number) -> (function, data)
        self.read_only = {}    # (driver, number) -> (address, length)
        self.read_write = {}
        self.queue = []        # [(driver, number, (v0, v1, v2))]
        self.state = "ready"   # ready | wait | wait_for | ended
        self.waiting_for = None
        self.alarm_at = None
        self.fault = None

    # ---- upcalls -------------------------------------------------------
    def schedule(self, driver, number, values):
        self.queue.append((driver, number, values))

    def deliver(self):
        """In a blocking yield: resumes the process if an upcall is due."""
        for index, (driver, number, values) in enumerate(self.queue):
            if self.state == "wait_for":
                if (driver, number) != self.waiting_for:
                    continue
                del self.queue[index]
                self.set_registers(values)
                self.state = "ready"
                return True
            del self.queue[index]
            function, data = self.upcalls.get((driver, number), (0, 0))
            if function == 0:
                continue  # null upcall and no Yield-WaitFor: dropped
            self.set_registers(list(values) + [data])
            self.cpu.reg_write(UC_RISCV_REG_RA, self.pc)
            self.pc = function
            self.state = "ready"
            return True
        return False

    # ---- system calls --------------------------------------------------
    def set_registers(self, values):
        for register, value in zip(ARGUMENT_REGISTERS, values):
            self.cpu.reg_write(register, value & 0xFFFFFFFF)

    def answer(self, variant, *values):
        self.set_registers([variant] + list(values) + [0] * (3 - len(values)))

    def on_exception(self, cpu, cause, _user_data):
        pc = cpu.reg_read(UC_RISCV_REG_PC)
        if cause not in ECALL_CAUSES:
            self.fault = f"exception {cause} at pc {pc:#x}"
            cpu.emu_stop()
            return
        self.pc = pc  # Unicorn already points past the ecall.
        arguments = [cpu.reg_read(register) for register in ARGUMENT_REGISTERS]
        self.system_call(cpu.reg_read(UC_RISCV_REG_A4), arguments)
        if self.state != "ready":
            cpu.emu_stop()
        elif self.pc != pc:
            cpu.reg_write(UC_RISCV_REG_PC, self.pc)  # an upcall starts

    def system_call(self, system_call_class, a):
        if system_call_class == YIELD:
            self.do_yield(a)
        elif system_call_class == SUBSCRIBE:
            if a[0] not in (ALARM, CONSOLE, LOW_LEVEL_DEBUG):
                return self.answer(FAILURE_U32_U32, NODEVICE, a[2], a[3])
            previous = self.upcalls.get((a[0], a[1]), (0, 0))
            self.upcalls[(a[0], a[1])] = (a[2], a[3])
            self.queue = [q for q in self.queue if (q[0], q[1]) != (a[0], a[1])]
            self.answer(SUCCESS_U32_U32, *previous)
        elif system_call_class == COMMAND:
            self.command(*a)
        elif system_call_class in (ALLOW_RW, ALLOW_RO):
            table = self.read_write if system_call_class == ALLOW_RW else self.read_only
            previous = table.get((a[0], a[1]), (0, 0))
            table[(a[0], a[1])] = (a[2], a[3])
            self.answer(SUCCESS_U32_U32, *previous)
        elif system_call_class == MEMOP:
            if a[0] in (0, 10, 11):
                self.answer(SUCCESS)
            elif a[0] == 2:
                self.answer(SUCCESS_U32, self.ram)
            elif a[0] == 3:
                self.answer(SUCCESS_U32, self.ram + self.ram_size)
            else:
                self.answer(FAILURE, NOSUPPORT)
        elif system_call_class == EXIT:
            kind = "terminate" if a[0] == 0 else "restart"
            print(f"[host] {self.name}: exit-{kind} with code {a[1]}", flush=True)
            self.state = "ended"
        else:
            self.answer(FAILURE, NOSUPPORT)

    def do_yield(self, a):
        if a[0] == YIELD_NO_WAIT:
            self.state = "wait"
            ran = self.deliver()
            self.state = "ready"
            if a[1]:
                self.cpu.mem_write(a[1], bytes([1 if ran else 0]))
        elif a[0] == YIELD_WAIT:
            self.state = "wait"
            self.deliver()
        elif a[0] == YIELD_WAIT_FOR:
            self.state = "wait_for"
            self.waiting_for = (a[1], a[2])
            self.deliver()

    def command(self, driver, number, argument0, _argument1):
        if driver == CONSOLE:
            if number == 0:
                return self.answer(SUCCESS)
            if number == 1:
                address, length = self.read_only.get((CONSOLE, 1), (0, 0))
                if address == 0:
                    return self.answer(FAILURE, BUSY)
                count = min(argument0, length)
                text = bytes(self.cpu.mem_read(address, count))
                sys.stdout.write(text.decode(errors="replace"))
                sys.stdout.flush()
                self.schedule(CONSOLE, 1, (count, 0, 0))
                return self.answer(SUCCESS)
        elif driver == ALARM:
            if number == 0:
                return self.answer(SUCCESS)
            if number == 1:
                return self.answer(SUCCESS_U32, ALARM_HZ)
            if number == 2:
                return self.answer(SUCCESS_U32, Clock.ticks)
            if number == 5:
                self.alarm_at = Clock.ticks + argument0
                return self.answer(SUCCESS_U32, self.alarm_at)
        elif driver == LOW_LEVEL_DEBUG:
            if number == 0:
                return self.answer(SUCCESS)
            print(f"LowLevelDebug: {self.name}: command {number} value {argument0:#x}",
                  flush=True)
            return self.answer(SUCCESS)
        else:
            return self.answer(FAILURE, NODEVICE)
        return self.answer(FAILURE, NOSUPPORT)


def load(image):
    """Creates a process for every enabled TBF with a Main/Program TLV."""
    processes = []
    offset = APPS_OFFSET
    while offset + 16 <= len(image):
        version, header_size, total_size, flags, _checksum = struct.unpack_from(
            "<HHIII", image, offset)
        if version != 2 or total_size == 0:
            break
        tlvs = {}
        cursor = offset + 16
        while cursor < offset + header_size:
            kind, length = struct.unpack_from("<HH", image, cursor)
            tlvs[kind] = image[cursor + 4:cursor + 4 + length]
            cursor += 4 + ((length + 3) & ~3)
        main = tlvs.get(9, tlvs.get(1))
        if flags & 1 and main is not None:
            init_offset, protected_size, minimum_ram = struct.unpack_from("<III", main)
            name = tlvs.get(3, b"?").rstrip(b"\0").decode()
            flash = IMAGE_BASE + offset
            ram = struct.unpack_from("<I", tlvs[5])[0] if 5 in tlvs else 0
            processes.append(Process(name, flash, image[offset:offset + total_size],
                                     header_size, init_offset, protected_size,
                                     minimum_ram, ram))
            print(f"[host] {name}: flash {flash:#x}, RAM {ram:#x}, "
                  f"minimum RAM {minimum_ram} bytes", flush=True)
        offset += total_size
    return processes


def run(processes, timeslice):
    while any(process.state != "ended" for process in processes):
        ran = False
        for process in processes:
            if process.state in ("wait", "wait_for"):
                if process.alarm_at is not None and Clock.ticks >= process.alarm_at:
                    process.schedule(ALARM, 0, (Clock.ticks, process.alarm_at, 0))
                    process.alarm_at = None
                process.deliver()
            if process.state != "ready":
                continue
            ran = True
            try:
                process.cpu.emu_start(process.pc, 0xFFFFFFFF, count=timeslice)
                if process.state == "ready" and process.fault is None:
                    process.pc = process.cpu.reg_read(UC_RISCV_REG_PC)  # preempted
            except UcError as error:
                pc = process.cpu.reg_read(UC_RISCV_REG_PC)
                process.fault = f"{error} at pc {pc:#x}"
            if process.fault is not None:
                print(f"[host] {process.name}: FAULT {process.fault}", flush=True)
                process.state = "ended"
            Clock.ticks += timeslice // INSTRUCTIONS_PER_TICK
        if not ran:
            alarms = [p.alarm_at for p in processes
                      if p.alarm_at is not None and p.state != "ended"]
            if not alarms:
                print("[host] every process waits for an upcall that cannot come")
                return 1
            Clock.ticks = max(Clock.ticks, min(alarms))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="flash image: byte 0 = 0x80000000")
    parser.add_argument("--timeslice", type=int, default=200_000,
                        help="instructions per time slice (default 200000)")
    arguments = parser.parse_args()
    with open(arguments.image, "rb") as file:
        image = file.read()
    return run(load(image), arguments.timeslice)


if __name__ == "__main__":
    sys.exit(main())
