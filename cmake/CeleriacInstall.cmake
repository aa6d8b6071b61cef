# install() rules: `cmake --install <build> --prefix <prefix>` lays out
#
#   <prefix>/bin/celeriac
#   <prefix>/share/celeriac/schemas/*.schema.json          (not the test fixtures)
#   <prefix>/share/celeriac/worker/tasks/prompts/*.txt
#
# The data keeps the repository's relative layout because the binary resolves it that
# way: worker/main.cc installedDataDir() takes <exe>/../share/celeriac when it holds
# schemas/, and the tasks read <data_dir>/schemas and <data_dir>/worker/tasks/prompts
# (LlmTasksConfig::defaults). So the paths below are fixed, not GNUInstallDirs
# variables: a different bin/ or share/ would break that lookup. The image
# (deploy/docker/Dockerfile) installs to /opt/celeriac; tests/deploy checks the layout.

install(TARGETS celeriac RUNTIME DESTINATION bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/
        DESTINATION share/celeriac/schemas
        PATTERN fixtures EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/worker/tasks/prompts/
        DESTINATION share/celeriac/worker/tasks/prompts)
