# SPDX-License-Identifier: MIT
# The DSDT is written in ASL and compiled by iasl (acpica-tools) into a C array.
GEN_HEADERS += $(BUILD)/gen/dsdt_aml.h

$(BUILD)/gen/dsdt_aml.h: src/x86/dsdt.asl
	@mkdir -p $(BUILD)/gen
	iasl -vi -vs -tc -p $(BUILD)/gen/dsdt $< >/dev/null
	mv $(BUILD)/gen/dsdt.hex $@
	rm -f $(BUILD)/gen/dsdt.aml
