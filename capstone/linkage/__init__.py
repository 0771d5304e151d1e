"The steps of matching, one module each: candidates, blocking, scoring, selection and evaluation (nbs/05b_ to 05f_)."
