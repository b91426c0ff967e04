# bpf_object(NAME SOURCE): compile a BPF C file with clang -target bpf, generate
# its libbpf skeleton, and expose an interface target NAME_skel that userspace
# links to include "NAME.skel.h".
#
# clang 16 is the default because clang 14 + libbpf 1.1 reject kfunc
# prototypes the kernel accepts (see REFERENCE gotcha 2).

find_program(BPF_CLANG NAMES clang-16 clang-19 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

# The kernel's types for the programs (vmlinux.h), for the architecture we
# build for. CO-RE relocates field offsets at load time, so any recent kernel's
# BTF of the right architecture will do; what must match is the architecture
# (register layout for PT_REGS, type sizes). Generated into the build tree,
# never the source tree, from the running kernel's BTF when it is there and the
# build is not a cross build; the committed vmlinux/<arch>/vmlinux.h is only
# the fallback for a machine without /sys/kernel/btf/vmlinux (a container, a
# cross build). Delete build/vmlinux to regenerate it after a kernel upgrade.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "socklb builds its BPF programs for x86_64 and aarch64, not ${CMAKE_SYSTEM_PROCESSOR}: "
                      "add the processor's name and its libbpf __TARGET_ARCH_ name to cmake/BpfObject.cmake")
endif()

set(VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux/${BPF_TARGET_ARCH})
set(VMLINUX_FALLBACK_DIR ${PROJECT_SOURCE_DIR}/vmlinux/${BPF_TARGET_ARCH})
if(NOT EXISTS ${VMLINUX_DIR}/vmlinux.h)
  if(EXISTS /sys/kernel/btf/vmlinux AND CMAKE_SYSTEM_PROCESSOR STREQUAL CMAKE_HOST_SYSTEM_PROCESSOR)
    message(STATUS "vmlinux.h for ${BPF_TARGET_ARCH}: generating it from /sys/kernel/btf/vmlinux into ${VMLINUX_DIR}")
    file(MAKE_DIRECTORY ${VMLINUX_DIR})
    # into a temporary file first: a failed dump must not leave a truncated header behind
    execute_process(
      COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c
      OUTPUT_FILE ${VMLINUX_DIR}/vmlinux.h.tmp
      ERROR_VARIABLE vmlinux_error
      RESULT_VARIABLE vmlinux_result)
    if(NOT vmlinux_result EQUAL 0)
      message(FATAL_ERROR "cannot generate vmlinux.h: `${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c` "
                          "failed: ${vmlinux_error}")
    endif()
    file(RENAME ${VMLINUX_DIR}/vmlinux.h.tmp ${VMLINUX_DIR}/vmlinux.h)
  elseif(EXISTS ${VMLINUX_FALLBACK_DIR}/vmlinux.h)
    message(STATUS "vmlinux.h for ${BPF_TARGET_ARCH}: no BTF of this architecture on this machine; "
                   "using the committed ${VMLINUX_FALLBACK_DIR}/vmlinux.h")
    set(VMLINUX_DIR ${VMLINUX_FALLBACK_DIR})
  else()
    message(FATAL_ERROR "no vmlinux.h for ${BPF_TARGET_ARCH}: this machine has no /sys/kernel/btf/vmlinux of that "
                        "architecture and ${VMLINUX_FALLBACK_DIR}/vmlinux.h is not committed. Generate one on a "
                        "${BPF_TARGET_ARCH} machine with `bpftool btf dump file /sys/kernel/btf/vmlinux format c` "
                        "and commit it there (vmlinux/README.md)")
  endif()
endif()

function(bpf_object NAME SOURCE)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.skel.h)
  file(GLOB bpf_headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH} -Wall -Werror
            -I${VMLINUX_DIR} -I${CMAKE_CURRENT_SOURCE_DIR}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${SOURCE} -o ${obj}
    DEPENDS ${SOURCE} ${bpf_headers} ${VMLINUX_DIR}/vmlinux.h
    COMMENT "BPF ${SOURCE}")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${NAME} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${NAME}.skel.h")
  add_custom_target(${NAME}_skel_gen DEPENDS ${skel})
  add_library(${NAME}_skel INTERFACE)
  add_dependencies(${NAME}_skel ${NAME}_skel_gen)
  target_include_directories(${NAME}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
endfunction()
