-- grain: one view in the reader's own catalog over one object of the attached build file, so that every
-- cursor of the reader (whose default catalog is its own, not `build`) finds the build's tables by name.
create view main.{object_name} as select * from build.main.{object_name}
