#pragma once
int ck_dummy(void);
