# bpf_object(NAME SOURCE): compile a BPF C file with clang -target bpf, generate
# its libbpf skeleton, and expose an interface target NAME_skel that userspace
# links to include "NAME.skel.h".
#
# clang 16 is the default because clang 14 + libbpf 1.1 reject kfunc
# prototypes the kernel accepts (see REFERENCE gotcha 2).

find_program(BPF_CLANG NAMES clang-16 clang-19 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(VMLINUX_DIR ${PROJECT_SOURCE_DIR}/vmlinux/x86)
if(NOT EXISTS ${VMLINUX_DIR}/vmlinux.h)
  message(STATUS "vmlinux.h missing: generating it from /sys/kernel/btf/vmlinux")
  execute_process(
    COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c
    OUTPUT_FILE ${VMLINUX_DIR}/vmlinux.h
    RESULT_VARIABLE vmlinux_result)
  if(NOT vmlinux_result EQUAL 0)
    message(FATAL_ERROR "cannot generate vmlinux.h: bpftool failed (is /sys/kernel/btf/vmlinux there?)")
  endif()
endif()

function(bpf_object NAME SOURCE)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.skel.h)
  file(GLOB bpf_headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
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
