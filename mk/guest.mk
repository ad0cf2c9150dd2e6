# SPDX-License-Identifier: MIT
# Test guests: freestanding multiboot kernels built with the host gcc. Linked
# as x86-64, then converted to ELF32 so QEMU's -kernel takes the same file.

GUEST_CC     := gcc
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie \
                -fno-stack-protector -fno-delete-null-pointer-checks -mno-red-zone \
                -mgeneral-regs-only -mcmodel=small -fno-asynchronous-unwind-tables \
                -Iguest/lib -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/lib/guest.ld \
                 -Wl,-z,max-page-size=0x1000 -Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments
GUEST_LIB_SRCS := $(wildcard guest/lib/*.c guest/lib/*.S)
GUEST_LIB_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(GUEST_LIB_SRCS))
GUEST_NAMES    := $(basename $(notdir $(wildcard guest/tests/*.c)))
GUEST_ELFS     := $(GUEST_NAMES:%=$(BUILD)/guest/%.elf)

guests: $(GUEST_ELFS)

$(BUILD)/obj/guest/%.c.o: guest/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/obj/guest/%.S.o: guest/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/%.elf64: $(BUILD)/obj/guest/tests/%.c.o $(GUEST_LIB_OBJS) guest/lib/guest.ld
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_LIB_OBJS)

$(BUILD)/guest/%.elf: $(BUILD)/guest/%.elf64
	objcopy -O elf32-i386 $< $@

.PRECIOUS: $(BUILD)/guest/%.elf64 $(BUILD)/obj/guest/%.c.o $(BUILD)/obj/guest/%.S.o

-include $(GUEST_LIB_OBJS:.o=.d) $(GUEST_NAMES:%=$(BUILD)/obj/guest/tests/%.c.d)

# Real-mode guests: one assembly file each, entered through multiboot in
# 32-bit protected mode, dropping to real mode themselves; linked below
# 64 KiB as ELF32 (guest/realmode/realmode.ld).
REALMODE_GUEST_SRCS := $(wildcard guest/realmode/*.S)
REALMODE_GUEST_ELFS := $(REALMODE_GUEST_SRCS:guest/realmode/%.S=$(BUILD)/guest/%.elf)

guests: $(REALMODE_GUEST_ELFS)

$(REALMODE_GUEST_ELFS): $(BUILD)/guest/%.elf: guest/realmode/%.S guest/realmode/realmode.ld
	@mkdir -p $(dir $@)
	$(GUEST_CC) -m32 -nostdlib -static -no-pie -Wl,-T,guest/realmode/realmode.ld \
		-Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -o $@ $<
